#!/usr/bin/env python3
"""Normalises a plain pg_dump for scripts/regress-roundtrip.sh: sorts the rows of each COPY block,
and sorts columns by name in CREATE TABLE bodies and COPY headers (each row's fields follow).
Drops the random \\restrict / \\unrestrict lines. --keep-row-order leaves the rows in their order
in the COPY blocks of at least 1 MiB: pgkeep loads those tables frozen, which keeps the dump's
order (src/engine/parallel/freeze.rs, MIN_BYTES); smaller ones are loaded as psql does.
Usage: regress-normalise.py [--keep-row-order] DUMP.sql > OUT"""
import re, sys

# pgkeep's freeze::MIN_BYTES: from this many bytes of COPY rows a table keeps the dump's order.
ORDERED_FROM_BYTES = 1 << 20

def split_cols(text):
    cols, cur, quoted = [], '', False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ',' and not quoted:
            cols.append(cur.strip()); cur = ''
        else:
            cur += ch
    cols.append(cur.strip())
    return cols

def norm(path, sort_rows):
    lines = open(path, encoding='utf-8', errors='surrogateescape').read().split('\n')
    out, i = [], 0
    while i < len(lines):
        l = lines[i]
        if l.startswith('\\restrict') or l.startswith('\\unrestrict'):
            i += 1; continue
        if l.startswith('COPY ') and l.endswith(' FROM stdin;'):
            m = re.match(r'COPY (\S+) \((.*)\) FROM stdin;$', l)
            rows = []; i += 1
            while lines[i] != '\\.':
                rows.append(lines[i]); i += 1
            if m:
                cols = split_cols(m.group(2))
                order = sorted(range(len(cols)), key=lambda k: cols[k])
                l = 'COPY %s (%s) FROM stdin;' % (m.group(1), ', '.join(cols[k] for k in order))
                rows = ['\t'.join(r.split('\t')[k] for k in order) for r in rows]
            ordered = not sort_rows and sum(len(r.encode('utf-8', 'surrogateescape')) + 1 for r in rows) >= ORDERED_FROM_BYTES
            out.append(l); out.extend(rows if ordered else sorted(rows)); out.append('\\.'); i += 1
            continue
        if l.startswith('CREATE TABLE ') and l.endswith(' ('):
            out.append(l); i += 1; body = []
            while not lines[i].startswith(')'):
                body.append(lines[i].rstrip(',')); i += 1
            out.extend(sorted(body))
            continue
        out.append(l); i += 1
    return out

args = sys.argv[1:]
keep = '--keep-row-order' in args
args = [a for a in args if a != '--keep-row-order']
sys.stdout.write('\n'.join(norm(args[0], not keep)) + '\n')
