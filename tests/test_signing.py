"""Signed bundles (issue 13 §4): `assessment sign` / `verify --pubkey` with OpenSSH Ed25519 keys.

Keys are made with `cryptography` as `ssh-keygen -t ed25519 -N ''` writes them; the signature is
OpenSSH's SSHSIG, checked against the real `ssh-keygen -Y verify` both ways (openssh-client is among
the Makefile's system-deps)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from assessment import signing
from assessment.problems import ParameterError

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True, timeout=300, env=env)


def write_key(folder: Path, name: str, key, comment: str, passphrase: bytes | None = None) -> Path:
    """KEY and KEY.pub as ssh-keygen writes them."""
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    path = folder / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path.with_name(name + ".pub").write_bytes(pub + f" {comment}\n".encode())
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {"alice": write_key(folder, "alice", ed25519.Ed25519PrivateKey.generate(), "alice@县数据局"),
            "bob": write_key(folder, "bob", ed25519.Ed25519PrivateKey.generate(), "bob@elsewhere"),
            "locked": write_key(folder, "locked", ed25519.Ed25519PrivateKey.generate(), "locked", passphrase=b"s3cret"),
            "rsa": write_key(folder, "rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa"),
            "ecdsa": write_key(folder, "ecdsa", ec.generate_private_key(ec.SECP256R1()), "ecdsa")}


@pytest.fixture(scope="module")
def base_bundle(published_small) -> Path:
    """A real published run (verify regenerates it), shared with the other verify tests."""
    return published_small


@pytest.fixture
def bundle(base_bundle, tmp_path) -> Path:
    shutil.copytree(base_bundle.parent, tmp_path / "sihong")  # with last year's bundle beside it, as published
    return tmp_path / "sihong" / base_bundle.name


def fp_of(pub: Path) -> str:
    return signing.fingerprint(serialization.load_ssh_public_key(pub.read_bytes().split(b" ")[0] + b" " + pub.read_bytes().split(b" ")[1]))


def test_sign_then_verify_names_the_signer(bundle, keys):
    done = cli("sign", str(bundle), "--key", str(keys["alice"]))
    assert done.returncode == 0, done.stderr
    sig = (bundle / "manifest.json.sig").read_text(encoding="ascii")
    assert sig.startswith("-----BEGIN SSH SIGNATURE-----\n") and sig.endswith("-----END SSH SIGNATURE-----\n")
    fp = fp_of(keys["alice"].with_name("alice.pub"))
    assert fp.startswith("SHA256:") and len(fp) == 7 + 43 and fp in done.stdout
    done = cli("verify", str(bundle), "--pubkey", str(keys["alice"]) + ".pub")
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert "有效" in line and "valid" in line and "alice@县数据局" in line and fp in line
    # signing twice gives the same bytes (Ed25519 is deterministic)
    assert cli("sign", str(bundle), "--key", str(keys["alice"])).returncode == 0
    assert (bundle / "manifest.json.sig").read_text(encoding="ascii") == sig


def test_manifest_edited_after_signing_fails(bundle, keys):
    signing.sign(bundle, keys["alice"])
    manifest = bundle / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"year": 2023', b'"year": 2024'))
    done = cli("verify", str(bundle), "--pubkey", str(keys["alice"]) + ".pub")
    assert done.returncode == 1
    assert "无效" in done.stdout and "invalid" in done.stdout
    # without --pubkey the signature is still checked against the key it names
    done = cli("verify", str(bundle))
    assert done.returncode == 1 and "无效" in done.stdout
    # one byte of whitespace is an edit too
    signing.sign(bundle, keys["alice"])
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    assert not signing.check(bundle, keys["alice"].with_name("alice.pub")).ok


def test_missing_signature_with_pubkey_fails(bundle, keys):
    signing.sign(bundle, keys["alice"])
    (bundle / "manifest.json.sig").unlink()
    done = cli("verify", str(bundle), "--pubkey", str(keys["alice"]) + ".pub")
    assert done.returncode == 1
    assert "未签名" in done.stdout and "manifest.json.sig is missing" in done.stdout


def test_signature_by_another_key_fails_and_names_it(bundle, keys):
    signing.sign(bundle, keys["bob"])
    done = cli("verify", str(bundle), "--pubkey", str(keys["alice"]) + ".pub")
    assert done.returncode == 1
    assert "signed by another key" in done.stdout and fp_of(keys["bob"].with_name("bob.pub")) in done.stdout


def test_damaged_signature_file_fails(bundle, keys):
    signing.sign(bundle, keys["alice"])
    sig = bundle / "manifest.json.sig"
    lines = sig.read_text(encoding="ascii").splitlines()
    lines[3] = lines[3][:-4] + ("AAAA" if lines[3][-4:] != "AAAA" else "BBBB")  # inside the signature bytes
    sig.write_text("\n".join(lines) + "\n", encoding="ascii")
    assert not signing.check(bundle, keys["alice"].with_name("alice.pub")).ok
    sig.write_text("not a signature\n", encoding="ascii")
    c = signing.check(bundle, keys["alice"].with_name("alice.pub"))
    assert not c.ok and "不是有效的 SSH 签名" in c.message


@pytest.mark.parametrize("name,words", [("rsa", ["Ed25519", "ssh-rsa"]), ("ecdsa", ["Ed25519", "ecdsa-sha2-nistp256"])])
def test_other_key_types_are_refused(bundle, keys, name, words):
    with pytest.raises(ParameterError) as err:
        signing.load_private_key(keys[name])
    assert all(w in str(err.value) for w in words) and "只接受 Ed25519 密钥" in str(err.value)
    done = cli("sign", str(bundle), "--key", str(keys[name]))
    assert done.returncode == 2 and "只接受 Ed25519" in done.stderr and "Traceback" not in done.stderr
    assert not (bundle / "manifest.json.sig").exists()
    done = cli("verify", str(bundle), "--pubkey", str(keys[name]) + ".pub")
    assert done.returncode == 2 and "只接受 Ed25519 公钥" in done.stderr


def test_passphrase_from_the_environment_or_a_clear_refusal(bundle, keys, monkeypatch):
    monkeypatch.delenv(signing.PASSPHRASE_ENV, raising=False)
    with pytest.raises(ParameterError, match=signing.PASSPHRASE_ENV):
        signing.load_private_key(keys["locked"])
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "wrong")
    with pytest.raises(ParameterError, match="口令不正确"):
        signing.load_private_key(keys["locked"])
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "s3cret")
    signing.sign(bundle, keys["locked"])
    assert signing.check(bundle, keys["locked"].with_name("locked.pub")).ok
    # a passphrase in the environment does not get in the way of a key without one
    signing.sign(bundle, keys["alice"])
    assert signing.check(bundle, keys["alice"].with_name("alice.pub")).ok


def test_wrong_files_given_as_keys(bundle, keys, tmp_path):
    for path, option, words in ((keys["alice"].with_name("alice.pub"), "--key", "这是公钥"), (tmp_path / "none", "--key", "不存在"),
                                (bundle / "manifest.json", "--key", "不是 OpenSSH 私钥")):
        done = cli("sign", str(bundle), option, str(path))
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = cli("verify", str(bundle), "--pubkey", str(keys["alice"]))
    assert done.returncode == 2 and "这是私钥" in done.stderr


def test_namespace_other_than_assessment_is_refused(bundle, keys):
    key = signing.load_private_key(keys["alice"])
    (bundle / "manifest.json.sig").write_text(signing.sshsig((bundle / "manifest.json").read_bytes(), key.private, "file"),
                                              encoding="ascii")
    c = signing.check(bundle, keys["alice"].with_name("alice.pub"))
    assert not c.ok and "namespace" in c.message


def test_openssh_reads_our_signature_and_we_read_its(bundle, keys, tmp_path):
    """Interoperability with OpenSSH itself: `ssh-keygen -Y verify` accepts what `assessment sign` writes,
    `assessment verify` accepts what `ssh-keygen -Y sign` writes, and both write the same bytes."""
    assert shutil.which("ssh-keygen"), "openssh-client is a system dependency (make system-deps)"
    signing.sign(bundle, keys["alice"])
    pub = keys["alice"].with_name("alice.pub").read_text(encoding="utf-8")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"auditor {pub}", encoding="utf-8")
    manifest = bundle / "manifest.json"
    with open(manifest, "rb") as f:
        done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "auditor", "-n", "assessment",
                               "-s", str(bundle / "manifest.json.sig")], stdin=f, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Good \"assessment\" signature for auditor" in done.stdout + done.stderr
    fp = fp_of(keys["alice"].with_name("alice.pub"))
    keygen_fp = subprocess.run(["ssh-keygen", "-l", "-f", str(keys["alice"]) + ".pub"], capture_output=True, text=True).stdout
    assert fp in keygen_fp  # the fingerprint as ssh-keygen -l shows it
    # the other way round: OpenSSH signs, we verify; the bytes are ours exactly
    copy = tmp_path / "m.json"
    shutil.copy(manifest, copy)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(keys["alice"]), "-n", "assessment", str(copy)],
                   check=True, capture_output=True, timeout=60)
    theirs = Path(str(copy) + ".sig").read_bytes()
    assert theirs == (bundle / "manifest.json.sig").read_bytes()
    (bundle / "manifest.json.sig").write_bytes(theirs)
    assert signing.check(bundle, keys["alice"].with_name("alice.pub")).ok
    # and OpenSSH rejects a manifest edited after signing, as we do
    manifest.write_bytes(manifest.read_bytes().replace(b"sihong", b"sihonh", 1))
    with open(manifest, "rb") as f:
        bad = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "auditor", "-n", "assessment",
                              "-s", str(bundle / "manifest.json.sig")], stdin=f, capture_output=True, timeout=60)
    assert bad.returncode != 0 and not signing.check(bundle, keys["alice"].with_name("alice.pub")).ok
