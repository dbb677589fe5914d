FROM denoland/deno:debian-2.9.6

ARG YTDLP_VERSION=2026.10.26
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg python3 python3-venv ca-certificates \
 && python3 -m venv /opt/yt-dlp \
 && /opt/yt-dlp/bin/pip install --no-cache-dir "yt-dlp==${YTDLP_VERSION}" \
 && ln -s /opt/yt-dlp/bin/yt-dlp /usr/local/bin/yt-dlp \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY deno.json deno.lock ./
COPY main.ts ./
COPY src/ src/
COPY static/ static/
RUN deno cache main.ts

ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/data
RUN mkdir -p /data && chown deno:deno /data
VOLUME /data
USER deno
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:8000/healthz'); Deno.exit(r.ok ? 0 : 1)"]
CMD ["deno", "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run", "--allow-sys", "main.ts"]
