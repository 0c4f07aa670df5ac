# bench/runtimes/puma: the self-calling page as a bare Rack app (Debian's puma runs it with its
# own Rack builder; no rack gem needed).
#
# GET /page works 200 ms (sleep), then fetches the static page from RIG_STATIC_URL with
# Net::HTTP.get_response -- a new connection per call, and Net::HTTP's defaults, as a real app
# that does not think about it has them: open_timeout 60 s, read_timeout 60 s, write_timeout
# 60 s, max_retries 1 (an idempotent GET that fails with a timeout or a reset is sent once more)
# -- and answers with what it got, or 502 with the exception. GET /static/page.html is served
# by the app itself (as Rails does with public_file_server enabled), so in the self variant the
# self-call needs one of the same 16 threads. Every page appends "start"/"done" lines to
# RIG_PAGES_LOG.
require 'net/http'

STATIC_URL = URI(ENV.fetch('RIG_STATIC_URL'))
STATIC_FILE = ENV.fetch('RIG_STATIC_FILE')
PAGES_LOG = ENV.fetch('RIG_PAGES_LOG')

def rig_log(line)
  File.open(PAGES_LOG, 'a') { |f| f.write(line + "\n") }
end

run(lambda do |env|
  case env['PATH_INFO']
  when '/page'
    rig_log(format('start %d %.3f', Thread.current.object_id, Time.now.to_f))
    sleep 0.2
    begin
      res = Net::HTTP.get_response(STATIC_URL)
      rig_log(format('done %d %.3f %s', Thread.current.object_id, Time.now.to_f, res.code))
      [200, { 'content-type' => 'text/plain' }, ["page: self-call status #{res.code}, #{res.body.bytesize} characters\n"]]
    rescue StandardError => e
      rig_log(format('fail %d %.3f %s', Thread.current.object_id, Time.now.to_f, e.class))
      [502, { 'content-type' => 'text/plain' }, ["page: self-call failed: #{e.class}: #{e.message}\n"]]
    end
  when '/static/page.html'
    [200, { 'content-type' => 'text/html' }, [File.read(STATIC_FILE)]]
  else
    [404, { 'content-type' => 'text/plain' }, ["not found\n"]]
  end
end)
