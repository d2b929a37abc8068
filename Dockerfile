# queuectl in a container: `queuectl` on PATH with bash completion, running as a non-root user.
# The entrypoint waits for the database, applies migrations, then runs the command (default:
# an interactive shell). The source tree stays in /app because queuectl is installed editable
# (its migrations are found next to the package) and so that ./verify.sh runs here too.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    QUEUECTL_VENV=/opt/venv \
    QUEUECTL_IN_IMAGE=1 \
    QUEUECTL_HOME=/home/queuectl/.queuectl \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN groupadd --system --gid 10001 queuectl \
    && useradd --system --uid 10001 --gid queuectl --create-home --shell /bin/bash queuectl \
    && python -m venv /opt/venv \
    && mkdir /app \
    && chown -R queuectl:queuectl /opt/venv /app

WORKDIR /app
USER 10001:10001

# Dependencies first, from the lock file, so code changes do not reinstall them.
COPY --chown=queuectl:queuectl requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY --chown=queuectl:queuectl . .
RUN pip install --no-cache-dir --no-deps -e . \
    && queuectl --show-completion bash > /home/queuectl/.queuectl-completion.bash \
    && echo 'source ~/.queuectl-completion.bash' >> /home/queuectl/.bashrc

EXPOSE 3000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["bash"]
