#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compile and link every C example in a Markdown file against libring.

The README's tour of the API is the first code a newcomer copies; this test
keeps it true. Each ```c block is written to its own file, compiled with the
project's warning flags as errors against the public headers only, and linked
against the shared libring (so it may use nothing but exported ring_* names).

usage: readme_examples.py MARKDOWN CC INCLUDE_DIR LIBRING_SO
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    markdown, cc, include_dir, libring = sys.argv[1:]
    text = open(markdown, encoding="utf-8").read()
    blocks = re.findall(r"^```c\n(.*?)^```", text, flags=re.S | re.M)
    if not blocks:
        print(f"{markdown}: no ```c blocks: nothing to check", file=sys.stderr)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, code in enumerate(blocks, 1):
            src = os.path.join(tmp, f"example{i}.c")
            exe = os.path.join(tmp, f"example{i}")
            with open(src, "w", encoding="utf-8") as f:
                f.write(code)
            cmd = [cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", include_dir,
                   src, "-o", exe, libring]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                failed += 1
                print(f"not ok {i} - example {i} of {markdown}\n{res.stderr}")
            else:
                print(f"ok {i} - example {i} of {markdown} compiles and links")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
