# One image for every tierstream process (worker, notifier, CLI); the command picks the role.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY tiering ./tiering
COPY schemas ./schemas
COPY streams ./streams
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --system --uid 10001 tierstream \
 && mkdir -p /data && chown tierstream /data
USER tierstream
ENV TIERSTREAM_DATA_DIR=/data
ENTRYPOINT ["tierstream"]
CMD ["worker"]
