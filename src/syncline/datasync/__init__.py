"""Datasync: carry each source change to the target within a second (docs/datasync.md).

A *watcher* notices changes (:mod:`~syncline.datasync.watchers`) and puts them on a durable
*queue* in the target database (:mod:`~syncline.datasync.queue`); *consumers*
(:mod:`~syncline.datasync.consumer`) apply them through the importers' keys mode, removing
each change from the queue in the transaction that applies it; the *daemon*
(:mod:`~syncline.datasync.daemon`) runs both until told to stop.
"""
