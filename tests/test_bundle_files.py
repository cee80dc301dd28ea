"""Files colleagues can open, pages that read offline, a bundle published signed (issue 12 §8-9, 13 §4).

Two real runs of the small fixture through the command line, one under umask 022 and one under 027
(the latter signed with --sign-key): every file and folder of each bundle has the mode the umask
gives (0666/0777 less the umask: .docx and .xlsx as well as CSV), the notebooks' HTML pages load
nothing from the network and are the same bytes in both runs, and the signed bundle verifies."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
RUN = ["run", "--county", "sihong", "--year", "2023", "--framework", FW, "--raw", str(FIXTURE), "--quiet"]


def cli(*args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True, timeout=900,
                          preexec_fn=lambda: os.umask(umask))


def write_key(folder: Path, name: str, key) -> Path:
    path = folder / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    path.with_name(name + ".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" office@test\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    """umask → published bundle; the 027 run signed with a fresh Ed25519 key (tmp/keys/office)."""
    tmp = tmp_path_factory.mktemp("runs")
    (tmp / "keys").mkdir()
    key = write_key(tmp / "keys", "office", ed25519.Ed25519PrivateKey.generate())
    out = {}
    for umask, extra in ((0o022, []), (0o027, ["--sign-key", str(key)])):
        done = cli(*RUN, "--out", str(tmp / f"out{umask:o}"), *extra, umask=umask)
        assert done.returncode == 0, done.stderr
        out[umask] = tmp / f"out{umask:o}" / "sihong" / "2023"
    return out


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_file_and_folder_follows_the_umask(runs, umask):
    bundle = runs[umask]
    wrong = []
    for path in [bundle, *sorted(bundle.rglob("*"))]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        if mode != expected:
            wrong.append(f"{path.relative_to(bundle)} {mode:o} (expected {expected:o})")
    assert not wrong, wrong
    kinds = {p.suffix for p in bundle.rglob("*") if p.is_file()}
    assert {".docx", ".xlsx", ".csv", ".png", ".html", ".parquet", ".json"} <= kinds  # every writer was exercised


class Loads(HTMLParser):
    """What a browser would fetch: URL attributes (src, href, srcset, data, poster, action, xlink:href) on any
    element, URLs inside <script>, and url()/@import inside <style> or style attributes (CSS comments are
    not loaded, so they are dropped first). Text that merely mentions a URL is not a load."""

    URL_ATTRS = {"src", "href", "srcset", "data", "poster", "action", "xlink:href", "background", "formaction", "manifest"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.stack: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if name in self.URL_ATTRS and re.search(r"(^|[\s,])(https?:)?//", value.strip()):
                self.external.append(f"<{tag} {name}={value[:80]}>")
            if name == "style":
                self._css(value, tag)
            if tag == "img" and name == "src":
                self.images.append(value[:30])
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def _css(self, text: str, where: str) -> None:
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for m in re.finditer(r"(url\(\s*['\"]?\s*(https?:)?//[^)]*\)|@import\s+['\"]?(https?:)?//\S+)", text):
            self.external.append(f"{where}: {m.group(0)[:80]}")

    def handle_data(self, data):
        if not self.stack:
            return
        found = re.search(r".{0,40}(https?://|['\"]//[a-z0-9])\S{0,60}", data)
        if self.stack[-1] == "script" and found:
            self.external.append("<script>: " + found.group(0))
        elif self.stack[-1] == "style":
            self._css(data, "<style>")


def test_html_exports_load_nothing_from_the_network(runs):
    pages = sorted(runs[0o022].rglob("*.html"))
    assert [p.name for p in pages] == ["01_ingest.html", "02_validate.html", "03_score.html", "04_report.html"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        parser = Loads()
        parser.feed(text)
        assert not parser.external, (page.name, parser.external)
        assert "cdnjs" not in text and "unpkg" not in text and "require.min.js" not in text and "MathJax" not in text
        assert all(src.startswith("data:") for src in parser.images), parser.images  # images inline
    report = Loads()
    report.feed((runs[0o022] / "notebooks" / "03_score.html").read_text(encoding="utf-8"))
    assert len(report.images) >= 2  # the charts are in the page, inline


def test_the_loads_scanner_catches_what_a_browser_would_fetch():
    """The scanner above is the test: it must see each way a page can load from the network."""
    for html in ('<script src="https://cdnjs.cloudflare.com/x.js"></script>', '<link rel="stylesheet" href="//cdn.x/a.css">',
                 '<script type="module">const m = await import("https://cdn/x.mjs")</script>',
                 '<style>@import "https://fonts.googleapis.com/css";</style>', '<div style="background:url(https://x/y.png)"></div>',
                 '<img src="http://x/y.png">', '<img srcset="a.png 1x, https://x/b.png 2x">'):
        p = Loads()
        p.feed(html)
        assert p.external, html
    for html in ('<pre>see https://example.org in the text</pre>', '<style>/* https://github.com/x */ a {color: red}</style>',
                 '<img src="data:image/png;base64,AAAA">', '<a href="#cell-1">1</a>'):
        p = Loads()
        p.feed(html)
        assert not p.external, html


def test_html_exports_are_the_same_bytes_in_every_run(runs):
    a, b = runs[0o022] / "notebooks", runs[0o027] / "notebooks"
    for page in sorted(a.glob("*.html")):
        assert page.read_bytes() == (b / page.name).read_bytes(), page.name


def test_a_run_with_sign_key_publishes_a_signed_bundle(runs):
    signed = runs[0o027]
    keys = signed.parents[2] / "keys"
    assert (signed / "manifest.json.sig").is_file() and not (runs[0o022] / "manifest.json.sig").exists()
    done = cli("verify", str(signed), "--pubkey", str(keys / "office.pub"))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "有效" in out and "office@test" in out and "SHA256:" in out
    # the signature covers the manifest the run wrote: not listed among its outputs, checked on its own
    assert '"manifest.json.sig"' not in (signed / "manifest.json").read_text(encoding="utf-8")


def test_a_bad_sign_key_is_refused_before_the_run_starts(tmp_path):
    key = tmp_path / "rsa"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    for bad in (key, tmp_path / "missing"):
        done = cli(*RUN, "--out", str(tmp_path / "out"), "--sign-key", str(bad))
        assert done.returncode == 2, done.stderr
        assert "[--sign-key]" in done.stderr and ("只接受 Ed25519" in done.stderr or "不存在" in done.stderr)
        assert "未生成运行包" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "out").exists()  # nothing ran: not even the output folder was made
