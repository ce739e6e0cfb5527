-- A package body being downloaded, kept in sealed chunks so a download cut by the network or a
-- restart resumes where it stopped (HTTP Range) instead of starting again. The body holds names
-- and ticket codes, so each chunk is sealed like any personal row: AES-256-GCM bound to the
-- body's SHA-256 and the chunk's number. What is being downloaded (manifest, bytes so far) is the
-- meta row 'package_download'. Both are cleared when the package is applied or replaced.

create table package_download (
    chunk  integer primary key,
    sealed blob not null
) strict;
