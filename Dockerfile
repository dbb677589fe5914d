# The service with ffmpeg and Python; yt-dlp itself is installed by the service on first start into
# /data/yt-dlp (a venv on the volume, so updates survive new images) and kept current from there.
# BASE can point at a local copy of the Deno image (see tools/docker_local.sh).
ARG BASE=denoland/deno:debian-2.9.6
FROM ${BASE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# DENO_DIR belongs to the runtime user: the service's npm packages are cached into it below, and
# yt-dlp's JavaScript challenge solver (run by the same Deno) writes its cache there at run time.
ENV DENO_DIR=/deno-dir HOST=0.0.0.0 PORT=8000 DATA_DIR=/data
RUN mkdir -p /app /data /deno-dir && chown deno:deno /app /data /deno-dir
WORKDIR /app
COPY --chown=deno:deno deno.json deno.lock main.ts ./
COPY --chown=deno:deno src/ src/
COPY --chown=deno:deno static/ static/
USER deno
RUN deno cache main.ts

VOLUME /data
EXPOSE 8000
# Follows PORT; the start period covers the first start, which installs yt-dlp with pip.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') || 8000}/healthz`); Deno.exit(r.ok ? 0 : 1)"]
CMD ["deno", "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run", "--allow-sys", "main.ts"]
