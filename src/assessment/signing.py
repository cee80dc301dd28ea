"""Signed bundles: an OpenSSH Ed25519 signature over the exact bytes of manifest.json.

The manifest holds the sha256 of every output and input record, so a signature over it vouches for
the whole bundle. The signature is written as `manifest.json.sig` in OpenSSH's own SSHSIG format
(namespace "assessment"), so an auditor can check it with OpenSSH alone:

    echo "审核人 $(cat KEY.pub)" > allowed_signers
    ssh-keygen -Y verify -f allowed_signers -I 审核人 -n assessment -s BUNDLE/manifest.json.sig < BUNDLE/manifest.json

Only the container is assembled here (PROTOCOL.sshsig: length-prefixed strings, base64 armour); hashing
and Ed25519 are the `cryptography` package's. Ed25519 signatures are deterministic: the same manifest
signed with the same key gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .problems import ParameterError, Problem

NAMESPACE = "assessment"
SIG_NAME = "manifest.json.sig"
PASSPHRASE_ENV = "ASSESSMENT_KEY_PASSPHRASE"
MAGIC = b"SSHSIG"
ARMOUR_BEGIN, ARMOUR_END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}
KEY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigningKey:
    """A loaded Ed25519 private key, with the public half as the signature names it."""

    private: Ed25519PrivateKey
    comment: str
    path: Path

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


@dataclass(frozen=True)
class Check:
    """The outcome of checking a bundle's signature: ok, and one line (Chinese, English beside) naming the signer."""

    ok: bool
    message: str
    signer: str | None = None  # "comment (SHA256:…)" when the signature names a key


# ---- wire format (PROTOCOL.sshsig) ---------------------------------------------------------

def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", buf[pos:pos + 4])
    if pos + 4 + n > len(buf):
        raise ValueError("truncated")
    return buf[pos + 4:pos + 4 + n], pos + 4 + n


def public_blob(key: Ed25519PublicKey) -> bytes:
    """The key as OpenSSH writes it on the wire (string "ssh-ed25519", string key)."""
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA256:… exactly as `ssh-keygen -l` shows it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_blob(key)).digest()).decode().rstrip("=")


def _signed_data(message: bytes, namespace: str, hash_alg: str) -> bytes:
    return MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_alg.encode()) + _string(HASHES[hash_alg](message).digest())


def sshsig(message: bytes, key: Ed25519PrivateKey, namespace: str = NAMESPACE) -> str:
    """An armoured SSHSIG signature of `message`, as `ssh-keygen -Y sign -n <namespace>` writes it."""
    signature = key.sign(_signed_data(message, namespace, "sha512"))
    blob = (MAGIC + struct.pack(">I", 1) + _string(public_blob(key.public_key())) + _string(namespace.encode()) + _string(b"")
            + _string(b"sha512") + _string(_string(b"ssh-ed25519") + _string(signature)))
    text = base64.b64encode(blob).decode()
    return "\n".join([ARMOUR_BEGIN, *(text[i:i + 70] for i in range(0, len(text), 70)), ARMOUR_END]) + "\n"


@dataclass(frozen=True)
class _Parsed:
    public: bytes
    namespace: str
    hash_alg: str
    sig_type: str
    signature: bytes


def _parse(armoured: str) -> _Parsed:
    """The fields of an armoured SSHSIG; ValueError (English, for the message) when it is not one."""
    lines = [line.strip() for line in armoured.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOUR_BEGIN or lines[-1] != ARMOUR_END:
        raise ValueError("not an armoured SSH signature")
    blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    if blob[:6] != MAGIC or len(blob) < 10 or struct.unpack(">I", blob[6:10])[0] != 1:
        raise ValueError("not an SSHSIG version 1 signature")
    pos = 10
    public, pos = _read_string(blob, pos)
    namespace, pos = _read_string(blob, pos)
    _, pos = _read_string(blob, pos)
    hash_alg, pos = _read_string(blob, pos)
    sig, pos = _read_string(blob, pos)
    if pos != len(blob):
        raise ValueError("trailing bytes")
    sig_type, p = _read_string(sig, 0)
    signature, p = _read_string(sig, p)
    return _Parsed(public, namespace.decode(errors="replace"), hash_alg.decode(errors="replace"), sig_type.decode(errors="replace"), signature)


# ---- keys --------------------------------------------------------------------------------

def _refuse(path: Path | str, zh: str, en: str, option: str) -> ParameterError:
    return ParameterError([Problem(file=str(path), message_zh=zh, message_en=en, rule=option)])


def _read_key_file(path: Path, option: str) -> bytes:
    try:
        if not path.is_file():
            raise _refuse(path, "密钥文件不存在", "key file not found", option)
        if path.stat().st_size > KEY_MAX_BYTES:
            raise _refuse(path, "这不是 OpenSSH 密钥文件（文件过大）", "not an OpenSSH key file (too large)", option)
        return path.read_bytes()
    except OSError as exc:
        raise _refuse(path, f"密钥文件无法读取：{exc.strerror or exc}", f"cannot read the key file: {exc.strerror or exc}", option) from None


def load_private_key(path: str | Path, option: str = "--key") -> SigningKey:
    """An OpenSSH Ed25519 private key (`ssh-keygen -t ed25519`), refused with a clear message otherwise.

    A passphrase-protected key is opened with the passphrase in $ASSESSMENT_KEY_PASSPHRASE (never asked
    on the terminal: runs are unattended). The comment is taken from KEY.pub beside it when present."""
    path = Path(path)
    data = _read_key_file(path, option)
    if b"PUBLIC KEY" in data or data.lstrip().startswith(b"ssh-"):
        raise _refuse(path, "这是公钥；签名需要私钥（不带 .pub 的那个文件）", "this is a public key; signing needs the private key "
                      "(the file without .pub)", option)
    if b"BEGIN OPENSSH PRIVATE KEY" not in data:
        raise _refuse(path, "不是 OpenSSH 私钥；请用 ssh-keygen -t ed25519 生成", "not an OpenSSH private key; make one with "
                      "`ssh-keygen -t ed25519`", option)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        try:
            key = serialization.load_ssh_private_key(data, password=None)
        except TypeError:  # encrypted: opened with the passphrase, if one is given
            if not passphrase:
                raise _refuse(path, f"私钥有口令保护：请在环境变量 {PASSPHRASE_ENV} 中给出口令", "the private key is "
                              f"passphrase-protected: give the passphrase in the environment variable {PASSPHRASE_ENV}", option) from None
            try:
                key = serialization.load_ssh_private_key(data, password=passphrase.encode())
            except ValueError:
                raise _refuse(path, f"私钥口令不正确（{PASSPHRASE_ENV}）", f"wrong passphrase for the private key ({PASSPHRASE_ENV})",
                              option) from None
    except UnsupportedAlgorithm as exc:
        raise _refuse(path, f"无法读取此私钥（{exc}）", f"cannot read this private key ({exc})", option) from None
    except ValueError as exc:
        raise _refuse(path, f"不是有效的 OpenSSH 私钥（{' '.join(str(exc).split())[:120]}）",
                      f"not a valid OpenSSH private key ({' '.join(str(exc).split())[:120]})", option) from None
    if not isinstance(key, Ed25519PrivateKey):
        try:  # as ssh-keygen names it: ssh-rsa, ecdsa-sha2-nistp256, …
            kind = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[0].decode()
        except Exception:
            kind = type(key).__name__.removesuffix("PrivateKey").removeprefix("_")
        raise _refuse(path, f"只接受 Ed25519 密钥，此密钥为 {kind}；请用 ssh-keygen -t ed25519 生成",
                      f"only Ed25519 keys are accepted, this one is {kind}; make one with `ssh-keygen -t ed25519`", option)
    comment = ""
    pub = path.with_name(path.name + ".pub")
    if pub.is_file():
        try:
            fields = pub.read_text(encoding="utf-8", errors="replace").split(None, 2)
            if len(fields) == 3 and base64.b64decode(fields[1]) == public_blob(key.public_key()):
                comment = fields[2].strip()
        except (OSError, ValueError):
            pass
    return SigningKey(private=key, comment=comment, path=path)


def load_public_key(path: str | Path) -> tuple[Ed25519PublicKey, str]:
    """An OpenSSH public key line (KEY.pub: `ssh-ed25519 AAAA… comment`) and its comment."""
    path = Path(path)
    option = "--pubkey"
    data = _read_key_file(path, option)
    if b"PRIVATE KEY" in data:
        raise _refuse(path, "这是私钥；核对签名只需公钥（.pub 文件），私钥请勿外传", "this is a private key; checking needs only the "
                      "public key (the .pub file) — do not hand out the private key", option)
    text = data.decode("utf-8", errors="replace").strip()
    fields = text.split(None, 2)
    try:
        key = serialization.load_ssh_public_key(" ".join(fields[:2]).encode())
    except (ValueError, UnsupportedAlgorithm, IndexError) as exc:
        raise _refuse(path, "不是 OpenSSH 公钥（应为一行 ssh-ed25519 AAAA… 注释）", "not an OpenSSH public key (expected one line "
                      f"`ssh-ed25519 AAAA… comment`: {' '.join(str(exc).split())[:80]})", option) from None
    if not isinstance(key, Ed25519PublicKey):
        raise _refuse(path, f"只接受 Ed25519 公钥，此公钥为 {fields[0]}", f"only Ed25519 keys are accepted, this one is {fields[0]}", option)
    return key, fields[2].strip() if len(fields) == 3 else ""


def _signer(comment: str, fp: str) -> str:
    return f"{comment}（ED25519 {fp}）" if comment else f"ED25519 {fp}"


# ---- the bundle --------------------------------------------------------------------------

def write_signature(bundle: Path, key: SigningKey) -> Path:
    """BUNDLE/manifest.json.sig over the manifest's exact bytes, written whole or not at all."""
    from .documents.reproducible import write_bytes

    manifest = Path(bundle) / "manifest.json"
    return write_bytes(Path(bundle) / SIG_NAME, sshsig(manifest.read_bytes(), key.private).encode("ascii"))


def sign(bundle: str | Path, key_path: str | Path) -> Path:
    """Sign a published bundle: ParameterError (exit 2) for a bad key or a folder that is no bundle."""
    bundle = Path(bundle)
    key = load_private_key(key_path)
    if not (bundle / "manifest.json").is_file():
        raise _refuse(bundle, "不是运行包（缺少 manifest.json）", "not a bundle (no manifest.json)", "BUNDLE")
    return write_signature(bundle, key)


def check(bundle: str | Path, pubkey_path: str | Path | None = None) -> Check:
    """Does BUNDLE/manifest.json.sig sign BUNDLE/manifest.json, and with the key in `pubkey_path`?

    Without a public key the signature is checked against the key it names itself: that shows the
    manifest is unchanged since it was signed, but not who signed it (the line says so)."""
    bundle = Path(bundle)
    expected, comment = load_public_key(pubkey_path) if pubkey_path is not None else (None, "")
    sig_path, manifest_path = bundle / SIG_NAME, bundle / "manifest.json"
    if sig_path.is_symlink() or not sig_path.is_file():
        return Check(False, f"签名 signature: 未签名，缺少 {SIG_NAME}（not signed: {SIG_NAME} is missing）")
    try:
        if sig_path.stat().st_size > KEY_MAX_BYTES:
            raise ValueError("too large")
        parsed = _parse(sig_path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        return Check(False, f"签名 signature: {SIG_NAME} 不是有效的 SSH 签名（not a valid SSH signature: {exc}）")
    if parsed.namespace != NAMESPACE:
        return Check(False, f"签名 signature: 签名用途为 “{parsed.namespace}”，不是 “{NAMESPACE}”（signed for namespace "
                            f"{parsed.namespace!r}, not {NAMESPACE!r}: not a bundle signature）")
    try:
        signed_by = serialization.load_ssh_public_key(b"ssh-ed25519 " + base64.b64encode(parsed.public))
    except (ValueError, UnsupportedAlgorithm):
        signed_by = None
    if not isinstance(signed_by, Ed25519PublicKey) or parsed.sig_type != "ssh-ed25519" or parsed.hash_alg not in HASHES:
        return Check(False, f"签名 signature: 只接受 Ed25519 签名（only Ed25519 signatures are accepted; got {parsed.sig_type}, "
                            f"{parsed.hash_alg}）")
    signer_fp = fingerprint(signed_by)
    if expected is not None and public_blob(expected) != parsed.public:
        return Check(False, f"签名 signature: 签名者不是所给公钥的持有人：签名密钥 {signer_fp}，所给公钥 {_signer(comment, fingerprint(expected))}"
                            f"（signed by another key: {signer_fp}, not {fingerprint(expected)}）", signer=signer_fp)
    try:
        signed_by.verify(parsed.signature, _signed_data(manifest_path.read_bytes(), parsed.namespace, parsed.hash_alg))
    except InvalidSignature:
        return Check(False, f"签名 signature: 无效，manifest.json 在签名后被改动或签名被改动（invalid: manifest.json was changed after "
                            f"signing, or the signature was）；签名密钥 signing key {signer_fp}", signer=signer_fp)
    except OSError as exc:
        return Check(False, f"签名 signature: manifest.json 无法读取（cannot read manifest.json: {exc.strerror or exc}）")
    if expected is None:
        return Check(True, f"签名 signature: 与 manifest.json 一致，签名密钥 {signer_fp}；未给出 --pubkey，签名者身份未核对"
                           f"（matches manifest.json, signing key {signer_fp}; give --pubkey KEY.pub to check who signed）", signer=signer_fp)
    who = _signer(comment, signer_fp)
    return Check(True, f"签名 signature: 有效，签名者 {who}（valid, signed by {comment or signer_fp} {signer_fp}）", signer=who)
