from django.db import models


class ProcessHeartbeat(models.Model):
    """The last sign of life of one Celery worker node or beat, written every few seconds by the process
    itself (qbsync.core.heartbeat). /readyz and qbsync_status read it; the database is the one store every
    process shares whatever the broker (Redis or the filesystem queue)."""

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=255)  # the worker's node name (celery@host) or beat's host
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=255, blank=True)  # comma-separated, workers only
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint("kind", "name", name="heartbeat_one_per_process")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} at {self.beat_at:%H:%M:%S}"
