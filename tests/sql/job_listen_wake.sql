-- job_listen_wake
LISTEN queuectl_jobs
