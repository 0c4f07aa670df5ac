// bench/runtimes/jetty: the self-calling page as a servlet in Debian's Jetty 9.4.
//
// GET /app/page works 200 ms (Thread.sleep), then fetches the static page from RIG_STATIC_URL
// with the JDK's HttpURLConnection -- no setConnectTimeout, no setReadTimeout (both 0 =
// infinite by default), its keep-alive cache of idle connections (http.maxConnections 5) but
// no bound on concurrent ones -- and answers with what it got. /app/static/page.html is Jetty's
// DefaultServlet, on the same connector and thread pool. Every page appends "start"/"done"
// lines to RIG_PAGES_LOG.
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

public class PageServlet extends HttpServlet {
    private static final String STATIC_URL = System.getenv("RIG_STATIC_URL");
    private static final String PAGES_LOG = System.getenv("RIG_PAGES_LOG");

    private static synchronized void pageLog(String line) {
        try {
            Files.write(Paths.get(PAGES_LOG), (line + "\n").getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // The log is the rig's count of pages; a page still runs without it.
        }
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String thread = Thread.currentThread().getName();
        pageLog(String.format("start %s %.3f", thread, System.currentTimeMillis() / 1000.0));
        try {
            Thread.sleep(200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        HttpURLConnection c = (HttpURLConnection) new URL(STATIC_URL).openConnection();
        int status = c.getResponseCode();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (InputStream in = c.getInputStream()) {
            in.transferTo(body);
        }
        pageLog(String.format("done %s %.3f %d", thread, System.currentTimeMillis() / 1000.0, status));
        resp.setContentType("text/plain");
        resp.getWriter().printf("page: self-call status %d, %d characters%n", status, body.size());
    }
}
