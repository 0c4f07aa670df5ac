"""bench/runtimes/gunicorn: the self-calling page, as a Flask app under gunicorn's sync workers.

GET /page works 200 ms (time.sleep), then fetches the static page from RIG_STATIC_URL with
`requests.get` -- no session (a new connection per call) and no timeout, as most code that
calls its own site does -- and answers with what it got. GET /static/page.html is Flask's own
static route, so in the self variant the page's self-call queues for the same 16 workers.
Every page appends "start PID" and "done PID STATUS" lines to RIG_PAGES_LOG (O_APPEND, one
write per line), so the rig can count pages run, including those whose client had gone.
"""
import os
import time

import requests
from flask import Flask

STATIC_URL = os.environ["RIG_STATIC_URL"]
PAGES_LOG = os.environ["RIG_PAGES_LOG"]
STATIC_DIR = os.environ["RIG_STATIC_DIR"]

app = Flask(__name__, static_folder=STATIC_DIR, static_url_path="/static")


def log(line):
    fd = os.open(PAGES_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@app.route("/page")
def page():
    log(f"start {os.getpid()} {time.time():.3f}")
    time.sleep(0.2)
    r = requests.get(STATIC_URL)  # no session, no timeout
    log(f"done {os.getpid()} {time.time():.3f} {r.status_code}")
    return f"page: self-call status {r.status_code}, {len(r.text)} characters\n"
