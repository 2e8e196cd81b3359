#!/usr/bin/env bash
# Fetches every program of the precision corpus (tests/corpus/manifest.tsv) from
# the package registries (PyPI sdists, Debian packages) or the pyenv interpreters
# into target/corpus/<id>.py, and checks each file's sha256 against the manifest.
#
# Sources (manifest column 2):
#   pypi         path_in_archive is a member of the sdist of package==version
#   debian       path_in_archive is a file inside the .deb of package (=version)
#   debian-block path_in_archive is <file in the .deb>#L<start>-L<end>: lines
#                start..end (1-based, inclusive) of that file, e.g. a literal
#                code block of a reStructuredText page, with the common leading
#                indentation removed (textwrap.dedent) and a final newline
#   interpreter  path_in_archive is relative to the pyenv root of that version
#
#   bash tests/corpus/fetch.sh            # run from anywhere inside the repo
#
# Idempotent: a file already present with the right hash is kept; downloaded
# archives are cached in target/corpus-dl/. A hash mismatch is an error (exit 1).
# An interpreter that is not installed is skipped with a message (exit 0), and
# so is a Debian package when apt-get is not available.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MANIFEST="$ROOT/tests/corpus/manifest.tsv"
OUT="$ROOT/target/corpus"
DL="$ROOT/target/corpus-dl"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" "$DL/pypi" "$DL/debian"

APT_UPDATED=0
fetched=0 kept=0 skipped=0 failed=0

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Extract one member of an sdist (.tar.gz / .zip) to stdout-file $3.
extract_member() {
  "$PY" - "$1" "$2" "$3" <<'EOF'
import sys, tarfile, zipfile
archive, member, dest = sys.argv[1:4]
if archive.endswith(".zip"):
    with zipfile.ZipFile(archive) as z:
        data = z.read(member)
else:
    # Iterate instead of getmember(): some sdists (nuitka) carry trailing
    # garbage after the last member, which a full scan would trip on.
    data = None
    with tarfile.open(archive, "r:*") as t:
        for m in t:
            if m.name == member:
                data = t.extractfile(m).read()
                break
    if data is None:
        sys.exit(f"{member}: not found in {archive}")
with open(dest, "wb") as f:
    f.write(data)
EOF
}

# Write lines $2..$3 (1-based, inclusive) of file $1 to $4, dedented
# (textwrap.dedent: common leading whitespace removed, whitespace-only lines
# emptied), joined with "\n" and ending with one "\n".
extract_block() {
  "$PY" - "$1" "$2" "$3" "$4" <<'EOF'
import sys, textwrap
src, start, end, dest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(src, "rb") as f:
    lines = f.read().decode("utf-8").split("\n")
if not 1 <= start <= end <= len(lines):
    sys.exit(f"{src}: line range {start}-{end} outside 1-{len(lines)}")
text = textwrap.dedent("\n".join(lines[start - 1:end]) + "\n")
with open(dest, "wb") as f:
    f.write(text.encode("utf-8"))
EOF
}

# Find a cached sdist for package $1 version $2 (names are normalised by pip).
find_sdist() {
  local pkg="$1" ver="$2" f base norm want
  want="$(echo "$pkg" | tr 'A-Z_.' 'a-z--')-$ver"
  for f in "$DL/pypi"/*; do
    [ -e "$f" ] || continue
    base="$(basename "$f")"
    base="${base%.tar.gz}"; base="${base%.zip}"; base="${base%.tar.bz2}"
    norm="$(echo "$base" | tr 'A-Z_.' 'a-z--')"
    if [ "$norm" = "$(echo "$want" | tr '.' '-')" ]; then echo "$f"; return 0; fi
  done
  return 1
}

fetch_pypi() {
  local pkg="$1" ver="$2" path="$3" dest="$4" archive
  if ! archive="$(find_sdist "$pkg" "$ver")"; then
    echo "  pip download $pkg==$ver (sdist)" >&2
    "$PY" -m pip download --no-deps --no-binary :all: --ignore-requires-python \
      --quiet --dest "$DL/pypi" "$pkg==$ver" >&2
    archive="$(find_sdist "$pkg" "$ver")" || { echo "  no sdist of $pkg==$ver in $DL/pypi" >&2; return 1; }
  fi
  extract_member "$archive" "$path" "$dest"
}

fetch_debian() {
  local pkg="$1" ver="$2" path="$3" dest="$4" deb
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "  SKIP: apt-get/dpkg-deb not available for Debian package $pkg" >&2
    return 2
  fi
  deb="$(ls "$DL/debian/${pkg}_"*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    if ! (cd "$DL/debian" && apt-get download "$pkg=$ver" >/dev/null 2>&1); then
      if [ "$APT_UPDATED" = 0 ]; then
        echo "  apt-get update" >&2
        apt-get update >/dev/null
        APT_UPDATED=1
      fi
      # Pinned version first; fall back to the current one (the hash check
      # below tells whether the file is still the same).
      (cd "$DL/debian" && { apt-get download "$pkg=$ver" >/dev/null 2>&1 || apt-get download "$pkg" >/dev/null 2>&1; })
    fi
    deb="$(ls "$DL/debian/${pkg}_"*.deb | head -n1)"
  fi
  dpkg-deb --fsys-tarfile "$deb" | tar -xO -f - "$path" > "$dest"
}

fetch_debian_block() {
  local pkg="$1" ver="$2" spec="$3" dest="$4" rc=0
  if [[ ! "$spec" =~ ^(.+)#L([0-9]+)-L([0-9]+)$ ]]; then
    echo "  bad debian-block path '$spec' (want <path>#L<start>-L<end>)" >&2
    return 1
  fi
  local file="${BASH_REMATCH[1]}" start="${BASH_REMATCH[2]}" end="${BASH_REMATCH[3]}"
  fetch_debian "$pkg" "$ver" "$file" "$dest.src" || rc=$?
  if [ "$rc" = 0 ]; then extract_block "$dest.src" "$start" "$end" "$dest" || rc=$?; fi
  rm -f "$dest.src"
  return "$rc"
}

fetch_interpreter() {
  local ver="$1" path="$2" dest="$3" root cand
  for root in "$(pyenv root 2>/dev/null || true)" "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv; do
    [ -n "$root" ] || continue
    cand="$root/versions/$ver/$path"
    if [ -f "$cand" ]; then cp "$cand" "$dest"; return 0; fi
  done
  echo "  SKIP: interpreter $ver not installed (looked for versions/$ver/$path under pyenv root)" >&2
  return 2
}

while IFS=$'\t' read -r id source package version path sha features why; do
  [ "$id" = "id" ] && continue
  [ -n "$id" ] || continue
  dest="$OUT/$id.py"
  if [ -f "$dest" ] && [ "$(sha_of "$dest")" = "$sha" ]; then
    kept=$((kept + 1)); continue
  fi
  echo "fetch $id ($source $package $version)" >&2
  tmp="$dest.part"
  rc=0
  case "$source" in
    pypi) fetch_pypi "$package" "$version" "$path" "$tmp" || rc=$? ;;
    debian) fetch_debian "$package" "$version" "$path" "$tmp" || rc=$? ;;
    debian-block) fetch_debian_block "$package" "$version" "$path" "$tmp" || rc=$? ;;
    interpreter) fetch_interpreter "$version" "$path" "$tmp" || rc=$? ;;
    *) echo "  unknown source '$source'" >&2; rc=1 ;;
  esac
  if [ "$rc" = 2 ]; then rm -f "$tmp"; skipped=$((skipped + 1)); continue; fi
  if [ "$rc" != 0 ]; then rm -f "$tmp"; echo "ERROR: could not fetch $id" >&2; failed=$((failed + 1)); continue; fi
  got="$(sha_of "$tmp")"
  if [ "$got" != "$sha" ]; then
    echo "ERROR: sha256 mismatch for $id: manifest $sha, got $got ($source $package $version $path)" >&2
    rm -f "$tmp"; failed=$((failed + 1)); continue
  fi
  mv "$tmp" "$dest"
  fetched=$((fetched + 1))
done < "$MANIFEST"

echo "corpus: $fetched fetched, $kept already present, $skipped skipped, $failed failed -> $OUT" >&2
[ "$failed" = 0 ]
