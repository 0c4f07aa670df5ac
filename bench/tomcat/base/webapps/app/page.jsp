<%--
  bench/tomcat: the incident's page. It works 1 s, then fetches the app's own static file from
  its own Tomcat through HttpURLConnection, with no timeouts (connect and read timeouts left at
  their default, 0 = infinite), reads it whole, and writes a page around it. Every request so
  holds a worker for 1 s and then needs a second worker for the static file: at 200 rps
  (200 workers / 1 s) none is left and every worker waits forever.
--%><%@ page session="false" contentType="text/html; charset=UTF-8"
    import="java.io.ByteArrayOutputStream,java.io.InputStream,java.net.HttpURLConnection,java.net.URL,java.nio.charset.StandardCharsets"
%><%
    Thread.sleep(1000);
    URL u = new URL("http://127.0.0.1:" + request.getLocalPort() + request.getContextPath() + "/static/page.html");
    HttpURLConnection c = (HttpURLConnection) u.openConnection();
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (InputStream in = c.getInputStream()) {
        in.transferTo(buf);
    }
    String fragment = buf.toString(StandardCharsets.UTF_8);
%><!doctype html>
<html><head><title>page</title></head><body>
<p>status <%= c.getResponseCode() %>, <%= fragment.length() %> characters from the static file</p>
<%= fragment %>
</body></html>
