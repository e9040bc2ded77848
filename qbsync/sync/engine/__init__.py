"""The sync engine's spine: the one home of what every record kind shares.

State transitions (compare-and-set, the only writer of a link's state), the sync history, the retry
policy (backoff with jitter, what counts as an attempt, defer and fail), leases and grace periods, the
engine's errors, failure causes, record markers, the firm's connection and its API client, and
enqueueing work. It sits on the QuickBooks adapter and the models; record kinds (``qbsync.sync.kinds``)
sit on it. See docs/architecture.md.
"""
