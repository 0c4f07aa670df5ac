# nginx from Debian's package, for a build with no registry (no official nginx image): laid out
# like the official image as far as docker-compose.yml relies on it — the http block includes
# /etc/nginx/conf.d/*.conf, the site is mounted there and under /usr/share/nginx/html, and the
# logs go to the container's stdout and stderr. Debian's own default site is removed, so the
# compose wrapper (simulator/static/nginx/compose-default.conf) is the only server on port 80.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
