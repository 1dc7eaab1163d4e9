"""Build the bundled Japanese web font for watchapp.

Why
---
watchapp is an offline Flet web app whose UI is Japanese.  Flutter web
(CanvasKit) does not use the operating system's fonts, and by default it
fetches fallback fonts (Noto) from Google's CDN at runtime.  Offline that
download fails and every Japanese character renders as tofu (a blank box).
So the app must ship its own Japanese font as an asset.

Debian's Noto CJK comes as an OpenType collection (.ttc), which Flutter web
cannot load, and the full Japanese face is about 16 MB.  This script takes
face 0 of the collection ("Noto Sans CJK JP", the Japanese-glyph face),
keeps only the characters listed below, and writes it as WOFF2.

Character set
-------------
* ASCII printable, Latin-1 Supplement, General Punctuation, CJK Symbols and
  Punctuation, Hiragana, Katakana, Halfwidth and Fullwidth Forms;
* arrows (U+2190-21FF), geometric shapes (U+25A0-25FF), enclosed
  alphanumerics / circled numbers (U+2460-24FF), box drawing (U+2500-257F);
* every code point that Python can encode in cp932 (Windows Shift_JIS:
  JIS X 0208 plus the NEC/IBM extensions such as 髙 and 﨑) or in
  shift_jis_2004 (JIS X 0213:2004, which adds about 3,700 further kanji used
  in personal and place names, such as 𠮟, 𩸽 and 𡈽), so that names typed by
  users on Windows, macOS, iOS or Android display correctly;
* a few name characters that are in neither codec, listed in ``EXTRA_CHARS``
  (𠮷 U+20BB7 "tsuchi-yoshi" is not in JIS X 0213, despite being common in
  family names).

cp932 also encodes its user-defined area (U+E000-E757, private use); the
font has no glyphs there, so those code points drop out at the cmap check.

Only code points that the font really maps (its cmap) are kept.  With
JIS X 0213 included the output (about 4.5 MB) stays under the 4.8 MB budget,
so shift_jis_2004 is used; if a future font version pushes it over, drop
``shift_jis_2004`` from ``ENCODINGS`` (cp932 alone gives about 3.1 MB).
CFF subroutines are inlined ("desubroutinize"): WOFF2's Brotli compresses
the plain charstrings better, about 200 KB less, with identical outlines.

Determinism
-----------
The subset is chosen from a sorted code point list and the ``head``
modified timestamp is set to the source font's ``created`` value instead
of "now", so a rerun with the same fontTools, brotli and source font gives
the same bytes.  A different fontTools or brotli version may give
different bytes (the glyph set stays the same).

Licence
-------
Noto Sans CJK is licensed under the SIL Open Font License 1.1.  The subset
is a Modified Version under that licence and is distributed under it too;
the licence text is in ``assets/fonts/OFL.txt``.  The licence's Reserved
Font Name is "Source"; it is not used here.

Requirements
------------
    apt-get install fonts-noto-cjk
    pip install fonttools brotli

Usage
-----
    python tools/make_font.py [--source PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEFAULT_OUT = Path("assets/fonts/NotoSansJP-watchapp.woff2")
FACE_INDEX = 0  # "Noto Sans CJK JP" in NotoSansCJK-Regular.ttc
MAX_BYTES = 4_800_000

# Unicode blocks that are always included (inclusive ranges).
RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # ASCII printable
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x2000, 0x206F),  # General Punctuation
    (0x2190, 0x21FF),  # Arrows
    (0x2460, 0x24FF),  # Enclosed Alphanumerics (circled numbers)
    (0x2500, 0x257F),  # Box Drawing
    (0x25A0, 0x25FF),  # Geometric Shapes
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms (incl. halfwidth kana)
)

# Every code point encodable in one of these codecs is included.
ENCODINGS: tuple[str, ...] = ("cp932", "shift_jis_2004")

# Characters in neither codec that must still render (family names).
EXTRA_CHARS = "\U00020bb7"  # 𠮷 (tsuchi-yoshi), not in JIS X 0213

ENCODE_SCAN_END = 0x30000  # end of the SIP; no JIS character lies beyond


def encodable(encoding: str) -> set[int]:
    """Return the code points in U+0020..U+2FFFF that ``encoding`` can encode."""
    found: set[int] = set()
    for cp in range(0x20, ENCODE_SCAN_END):
        try:
            chr(cp).encode(encoding)
        except UnicodeEncodeError:
            continue
        found.add(cp)
    return found


def wanted_codepoints() -> set[int]:
    """Return every code point the subset should contain (before cmap check)."""
    wanted: set[int] = set()
    for first, last in RANGES:
        wanted.update(range(first, last + 1))
    for encoding in ENCODINGS:
        wanted |= encodable(encoding)
    wanted.update(ord(char) for char in EXTRA_CHARS)
    return wanted


def build(source: Path, out: Path) -> tuple[int, int]:
    """Write the WOFF2 subset of ``source`` to ``out``.

    Returns (number of characters kept, output size in bytes).
    """
    font = TTFont(str(source), fontNumber=FACE_INDEX, recalcTimestamp=False, lazy=False)
    cmap = font.getBestCmap()
    unicodes = sorted(wanted_codepoints() & set(cmap))

    options = subset.Options()
    options.layout_features = ["*"]  # keep vert, palt, jp78/jp90 etc.
    options.flavor = "woff2"
    options.name_IDs = ["*"]  # keep copyright, licence and trademark notices
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True  # smaller after WOFF2 (Brotli) compression
    options.recalc_timestamp = False

    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)

    head = font["head"]
    head.modified = head.created  # fixed value instead of the build time

    out.parent.mkdir(parents=True, exist_ok=True)
    font.flavor = "woff2"
    font.recalcTimestamp = False
    font.save(str(out), reorderTables=True)
    font.close()
    return len(unicodes), out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"Noto Sans CJK .ttc/.otf (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output .woff2 (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    source: Path = args.source
    out: Path = args.out

    if not source.is_file():
        print(
            f"error: {source} not found (apt-get install fonts-noto-cjk)",
            file=sys.stderr,
        )
        return 1

    started = time.monotonic()
    chars, size = build(source, out)
    elapsed = time.monotonic() - started

    print(f"wrote {out}")
    print(f"characters: {chars}")
    print(f"size: {size} bytes ({size / 1_000_000:.2f} MB)")
    print(f"time: {elapsed:.1f} s")
    if size > MAX_BYTES:
        print(
            f"warning: larger than {MAX_BYTES} bytes; "
            "consider dropping shift_jis_2004 from ENCODINGS",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
