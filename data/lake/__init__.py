"""The Parquet lake of market data: staging a load, merging it into date partitions, daily facts.

A load never touches a live file. Clean rows are staged per session date; each staged date is merged with
the date's current file into a *new* file (rows of the symbols the load brings replace that symbol's rows
for the date; other symbols are kept), sorted by ``symbol, ts`` and, among rows tied on both, in the order
of the files (file, then row): within one timestamp the file's order is the order of events, and the last
row of an instant is the state in force after it. The same inputs give the same file.

The common case, a date not yet in the lake whose rows arrive in that order (exchange files come sorted by
symbol and time), skips the staging: :class:`data.lake.writers.DirectWriter` writes the rows straight to the
new file as they are validated, and says when the stream breaks the order (or repeats a key), so that the
load falls back to staging and merging. Both ways give the same rows in the same order.
Only the commit in :mod:`data.load_market` switches the manifest ``lake_files`` (paths relative to the home's
``lake/``) and the views to the new files, in one transaction, after syncing them to disk; the files it replaces
are retired (``retired_files``), and deleted at a later load once no reader holds them. A crash before the
commit leaves orphan files that :func:`data.lake.partitions.collect_garbage` removes at the start of the next
load, and the previous state intact.

Modules: :mod:`data.lake.partitions` (where a date's file goes, merging a load into it, clearing orphan and
retired files), :mod:`data.lake.writers` (staging a load, or writing it straight to the lake),
:mod:`data.lake.flags` (the tape-cleaning flags of a file), :mod:`data.lake.daily` (a date's ``daily`` rows),
:mod:`data.lake.files` (the one deletion, never outside the lake; ``fsync``; the readers' lock).
"""
