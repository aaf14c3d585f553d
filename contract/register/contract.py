"""The register contract: which keystores are genuine, decided on chain.

A keystore registers by submitting its Intel TDX quote. The contract verifies it itself: the PCK
certificate chain up to Intel's SGX Root CA (pinned below), the QE report and its signature, the
quote's signature by the attestation key, the TCB status against Intel's TCB info and QE identity
(the collateral, which the owner sets and the contract verifies when set), the measurements
against the owner's allow-list, and that report_data binds the keystore's keys. NEAR has no
P-256 host function, so ECDSA P-256 is computed here; a verification that does not fit in one
call's gas resumes in the next call with the same arguments (progress is kept per verification;
nothing is recorded until every check has passed).

MicroPython (nearc). Every refusal panics with a message that says what to do.
"""

import binascii
import json

import near

NS = 10**9
STEP_GAS = 90 * 10**12  # what one ECDSA P-256 verification may need (measured: docs/performance.md)
MEASUREMENTS = ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3")
NOTIFY_GAS = 10 * 10**12  # a subscriber's on_keystore_update
MAX_SUBSCRIBERS = 5
HEX = "0123456789abcdef"
# Intel SGX Root CA: the SHA-256 of its DER certificate and its P-256 public key.
ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
ROOT_X = 0x0BA9C4C0C0C86193A3FE23D6B02CDA10A8BBD4E88E48B4458561A36E705525F5
ROOT_Y = 0x67918E2EDC88E40D860BD0CC4EE26AACC988E505A953558C453F6B0904AE7394
ECDSA_SHA256 = b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"  # the OID 1.2.840.10045.4.3.2
SGX_EXT = b"\x2a\x86\x48\x86\xf8\x4d\x01\x0d\x01"  # 1.2.840.113741.1.13.1: Intel's PCK extension


# --- errors and arguments -----------------------------------------------------------------------
def fail(message):
    near.panic_utf8("register: " + message)


def args():
    raw = near.input()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        fail("the arguments are not JSON")
    if not isinstance(value, dict):
        fail("the arguments must be a JSON object")
    return value


def read(key, default=None):
    raw = near.storage_read(key)
    return default if raw is None else json.loads(raw)


def write(key, value):
    near.storage_write(key, json.dumps(value))


def owner_only():
    if near.predecessor_account_id() != read("owner"):
        fail("only the owner (" + read("owner") + ") may do this")


def now_s():
    return near.block_timestamp() // NS


def hexstr(data):
    return binascii.hexlify(data).decode()


def unhex(value, name, size=None):
    if not isinstance(value, str):
        fail(name + " must be a hex string")
    try:
        data = binascii.unhexlify(value)
    except ValueError:
        fail(name + " is not hexadecimal")
    if size is not None and len(data) != size:
        fail(name + " must be " + str(size) + " bytes (" + str(2 * size) + " hex digits)")
    return data


def sha256(data):
    return bytes(near.sha256(data))


# --- time ---------------------------------------------------------------------------------------
def days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def unix(y, mo, d, h, mi, s):  # noqa: PLR0917
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def iso_time(text, name):
    """'2025-07-19T10:16:03Z' (as in Intel's TCB info) to unix seconds."""
    try:
        if len(text) < 20 or text[4] != "-" or text[10] != "T" or not text.endswith("Z"):
            raise ValueError
        return unix(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                    int(text[14:16]), int(text[17:19]))  # fmt: skip
    except (ValueError, TypeError):
        fail(name + " is not a time like 2025-07-19T10:16:03Z: " + str(text))


def asn1_time(buf, tag, start, end):
    t = bytes(buf[start:end]).decode()
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(t[0:2])
        year += 2000 if year < 50 else 1900
        t = t[2:]
    elif tag == 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        year = int(t[0:4])
        t = t[4:]
    else:
        fail("a certificate time has an unknown ASN.1 type")
    return unix(year, int(t[0:2]), int(t[2:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]))


# --- DER ----------------------------------------------------------------------------------------
def tlv(buf, pos, end):
    """(tag, content start, content end) of the DER element at pos, inside buf[:end]."""
    if pos + 2 > end:
        raise ValueError("truncated DER")
    tag = buf[pos]
    size = buf[pos + 1]
    pos += 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > 3 or pos + count > end:
            raise ValueError("bad DER length")
        size = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + size > end:
        raise ValueError("DER element overruns its container")
    return tag, pos, pos + size


def items(buf, start, end):
    """The elements inside a constructed DER element: [(tag, start, end, header start)]."""
    out = []
    pos = start
    while pos < end:
        tag, s, e = tlv(buf, pos, end)
        out.append((tag, s, e, pos))
        pos = e
    return out


def der_signature(buf, start, end):
    """(r, s) of an ECDSA-Sig-Value inside a BIT STRING's content (its first byte: unused bits)."""
    tag, s, e = tlv(buf, start + 1, end)
    parts = items(buf, s, e)
    if tag != 0x30 or len(parts) != 2 or parts[0][0] != 2 or parts[1][0] != 2:
        raise ValueError("not an ECDSA signature")
    return (int.from_bytes(buf[parts[0][1] : parts[0][2]], "big"),
            int.from_bytes(buf[parts[1][1] : parts[1][2]], "big"))  # fmt: skip


def parse_signed(der):
    """A certificate or CRL: (to-be-signed DER, (r, s), the to-be-signed part's elements)."""
    tag, s, e = tlv(der, 0, len(der))
    outer = items(der, s, e)
    if tag != 0x30 or len(outer) != 3 or outer[0][0] != 0x30 or outer[2][0] != 3:
        raise ValueError("not a signed X.509 structure")
    if bytes(der[outer[1][1] : outer[1][2]]) != ECDSA_SHA256:
        raise ValueError("not signed with ECDSA P-256 and SHA-256")
    tbs = der[outer[0][3] : outer[0][2]]
    return tbs, der_signature(der, outer[2][1], outer[2][2]), items(der, outer[0][1], outer[0][2])


def parse_cert(der):
    """What the contract needs of an X.509 certificate."""
    tbs, sig, fields = parse_signed(der)
    if fields and fields[0][0] == 0xA0:
        fields = fields[1:]
    if len(fields) < 6:
        raise ValueError("a certificate lacks fields")
    serial, _alg, issuer, validity, subject, spki = fields[:6]
    times = items(der, validity[1], validity[2])
    key_parts = items(der, spki[1], spki[2])
    point = der[key_parts[1][1] : key_parts[1][2]]
    if len(point) != 66 or point[0] != 0 or point[1] != 4:
        raise ValueError("the certificate's key is not an uncompressed P-256 point")
    sgx = None
    for f in fields[6:]:
        if f[0] == 0xA3:
            _tag, s, e = tlv(der, f[1], f[2])
            for ext in items(der, s, e):
                parts = items(der, ext[1], ext[2])
                if bytes(der[parts[0][1] : parts[0][2]]) == SGX_EXT:
                    sgx = (parts[-1][1], parts[-1][2])
    return {
        "der": der,
        "tbs": tbs,
        "sig": sig,
        "serial": int.from_bytes(der[serial[1] : serial[2]], "big"),
        "issuer": bytes(der[issuer[3] : issuer[2]]),
        "subject": bytes(der[subject[3] : subject[2]]),
        "not_before": asn1_time(der, times[0][0], times[0][1], times[0][2]),
        "not_after": asn1_time(der, times[1][0], times[1][1], times[1][2]),
        "key": (int.from_bytes(point[2:34], "big"), int.from_bytes(point[34:66], "big")),
        "sgx": sgx,
    }


def parse_crl(der):
    tbs, sig, fields = parse_signed(der)
    if fields and fields[0][0] == 2:
        fields = fields[1:]
    _alg, issuer, this_update = fields[0], fields[1], fields[2]
    rest = fields[3:]
    next_update = None
    if rest and rest[0][0] in (0x17, 0x18):
        next_update = asn1_time(der, rest[0][0], rest[0][1], rest[0][2])
        rest = rest[1:]
    revoked = []
    if rest and rest[0][0] == 0x30:
        for entry in items(der, rest[0][1], rest[0][2]):
            first = tlv(der, entry[1], entry[2])
            revoked.append(int.from_bytes(der[first[1] : first[2]], "big"))
    if next_update is None:
        raise ValueError("a CRL without nextUpdate")
    return {
        "tbs": tbs,
        "sig": sig,
        "issuer": bytes(der[issuer[3] : issuer[2]]),
        "this_update": asn1_time(der, this_update[0], this_update[1], this_update[2]),
        "next_update": next_update,
        "revoked": revoked,
    }


def pem_certs(text):
    """The DER certificates of a PEM chain, in order."""
    out = []
    for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split("-----END CERTIFICATE-----")[0]
        out.append(binascii.a2b_base64("".join(body.split())))
    return out


def sgx_extension(cert):
    """FMSPC (hex), PCESVN and the 16 CPUSVN components of a PCK certificate."""
    if cert["sgx"] is None:
        raise ValueError("the PCK certificate has no Intel SGX extension")
    der = cert["der"]
    s, e = cert["sgx"]
    _tag, s, e = tlv(der, s, e)
    fmspc = None
    pcesvn = None
    comps = [0] * 16
    for entry in items(der, s, e):
        parts = items(der, entry[1], entry[2])
        oid = bytes(der[parts[0][1] : parts[0][2]])
        if oid == SGX_EXT + b"\x04":
            fmspc = hexstr(der[parts[1][1] : parts[1][2]])
        elif oid == SGX_EXT + b"\x02":
            for tcb in items(der, parts[1][1], parts[1][2]):
                sub = items(der, tcb[1], tcb[2])
                sub_oid = bytes(der[sub[0][1] : sub[0][2]])
                if len(sub_oid) == len(SGX_EXT) + 2 and sub_oid[:-1] == SGX_EXT + b"\x02":
                    n = sub_oid[-1]
                    value = int.from_bytes(der[sub[1][1] : sub[1][2]], "big")
                    if 1 <= n <= 16:
                        comps[n - 1] = value
                    elif n == 17:
                        pcesvn = value
    if fmspc is None or pcesvn is None:
        raise ValueError("the PCK certificate's SGX extension lacks FMSPC or PCESVN")
    return fmspc, pcesvn, comps


# --- ECDSA P-256 (NIST FIPS 186-4), computed in the contract: NEAR has no host function for it ---
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def inverse(a, m):
    """a^-1 mod m (m prime, 0 < a < m): extended Euclid, far cheaper here than pow(a, m-2, m)."""
    r0, r1 = m, a
    t0, t1 = 0, 1
    while r1:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        t0, t1 = t1, t0 - q * t1
    return t0 % m


def _dbl(xj, yj, zj):
    """2 * (xj:yj:zj), Jacobian, a = -3 (dbl-2001-b)."""
    p = P
    d = zj * zj % p
    g = yj * yj % p
    be = xj * g % p
    a = 3 * (xj - d) * (xj + d) % p
    x3 = (a * a - 8 * be) % p
    return x3, (a * (4 * be - x3) - 8 * g * g) % p, 2 * yj * zj % p


def _madd(x1, y1, z1, x2, y2):
    """(x1:y1:z1) + (x2, y2) affine; z1 == 0 is the point at infinity."""
    p = P
    if z1 == 0:
        return x2, y2, 1
    zz = z1 * z1 % p
    h = (x2 * zz - x1) % p
    r = (y2 * zz % p * z1 - y1) % p
    if h == 0:
        if r == 0:
            return _dbl(x1, y1, z1)
        return 1, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p


def _affine_table(x, y):
    """[(x, y) of k*Q for k = 1..15], affine (one inversion for all)."""
    p = P
    jac = [(x, y, 1)]
    xj, yj, zj = _dbl(x, y, 1)
    jac.append((xj, yj, zj))
    for _ in range(13):
        xj, yj, zj = _madd(xj, yj, zj, x, y)
        jac.append((xj, yj, zj))
    # batch inversion of the zj's
    acc = [1] * 15
    run = 1
    for i in range(15):
        acc[i] = run
        z = jac[i][2]
        if z == 0:
            return None
        run = run * z % p
    inv = inverse(run, p)
    out = [None] * 15
    for i in range(14, -1, -1):
        xj, yj, zj = jac[i]
        zi = inv * acc[i] % p
        inv = inv * zj % p
        zi2 = zi * zi % p
        out[i] = (xj * zi2 % p, yj * zi2 % p * zi % p)
    return out


def _g_point(b):
    """b * G (1 <= b <= 255), affine, from G_HEX."""
    point = binascii.unhexlify(G_HEX[(b - 1) * 128 : b * 128])
    return int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x + 3 * x - B) % P == 0


def ecdsa_verify(qx, qy, digest, r, s):
    """ECDSA P-256: digest (32 bytes) signed as (r, s) by the key (qx, qy)."""
    if not (0 < r < N and 0 < s < N) or not on_curve(qx, qy):
        return False
    e = int.from_bytes(digest, "big")
    w = inverse(s, N)
    u1 = (e * w % N).to_bytes(32, "big")
    u2 = (r * w % N).to_bytes(32, "big")
    table = _affine_table(qx, qy)
    if table is None:
        return False
    xj, yj, zj = 1, 1, 0
    for i in range(32):
        byte = u2[i]
        for _ in range(4):
            if zj:
                xj, yj, zj = _dbl(xj, yj, zj)
        if byte >> 4:
            x, y = table[(byte >> 4) - 1]
            xj, yj, zj = _madd(xj, yj, zj, x, y)
        for _ in range(4):
            if zj:
                xj, yj, zj = _dbl(xj, yj, zj)
        if byte & 15:
            x, y = table[(byte & 15) - 1]
            xj, yj, zj = _madd(xj, yj, zj, x, y)
        g = u1[i]
        if g:
            x, y = _g_point(g)
            xj, yj, zj = _madd(xj, yj, zj, x, y)
    if zj == 0:
        return False
    zz = zj * zj % P
    if (r * zz - xj) % P == 0:
        return True
    return r + N < P and ((r + N) * zz - xj) % P == 0


# --- Intel's collateral -------------------------------------------------------------------------
COLLATERAL_FIELDS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)


def raw_signature(value, name):
    data = unhex(value, name, 64)
    return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big")


def chain_to_root(text, name, expect):
    """[leaf, ..., root] of a PEM chain whose last certificate is the pinned Intel root."""
    ders = pem_certs(text)
    if len(ders) != expect:
        fail(name + " must hold " + str(expect) + " PEM certificates, not " + str(len(ders)))
    if hexstr(sha256(ders[-1])) != ROOT_SHA256:
        fail(name + " does not end in Intel's SGX Root CA (SHA-256 " + ROOT_SHA256 + ")")
    try:
        return [parse_cert(d) for d in ders]
    except (ValueError, IndexError) as exc:
        fail(name + " holds a certificate that cannot be parsed: " + str(exc))


def valid_at(cert, at, name):
    if not cert["not_before"] <= at <= cert["not_after"]:
        fail(name + " is not valid at the block time (" + str(at) + ")")


def check_collateral(c, at):
    """The checks of a collateral set that need no signature, and the signature checks still to
    do: (label, message digest, (r, s), public key)."""
    for field in COLLATERAL_FIELDS:
        if not isinstance(c.get(field), str):
            fail("the collateral lacks " + field + " (a string, as dcap-qvl's JSON writes it)")
    platform_ca, root = chain_to_root(c["pck_crl_issuer_chain"], "pck_crl_issuer_chain", 2)
    signer, _root = chain_to_root(c["tcb_info_issuer_chain"], "tcb_info_issuer_chain", 2)
    if c["qe_identity_issuer_chain"] != c["tcb_info_issuer_chain"]:
        fail("qe_identity_issuer_chain must be the TCB signing chain (as Intel issues it)")
    for cert, name in ((platform_ca, "the PCK Platform CA"), (signer, "the TCB signing cert")):
        if cert["issuer"] != root["subject"]:
            fail(name + " is not issued by Intel's SGX Root CA")
        valid_at(cert, at, name)
    try:
        root_crl = parse_crl(unhex(c["root_ca_crl"], "root_ca_crl"))
        pck_crl = parse_crl(unhex(c["pck_crl"], "pck_crl"))
    except (ValueError, IndexError) as exc:
        fail("a CRL cannot be parsed: " + str(exc))
    if root_crl["issuer"] != root["subject"]:
        fail("root_ca_crl is not issued by Intel's SGX Root CA")
    if pck_crl["issuer"] != platform_ca["subject"]:
        fail("pck_crl is not issued by the PCK Platform CA of pck_crl_issuer_chain")
    for crl, name in ((root_crl, "root_ca_crl"), (pck_crl, "pck_crl")):
        if not crl["this_update"] <= at <= crl["next_update"]:
            fail(name + " is expired or not yet valid at the block time: fetch fresh collateral")
    for cert, name in ((platform_ca, "the PCK Platform CA"), (signer, "the TCB signing cert")):
        if cert["serial"] in root_crl["revoked"]:
            fail(name + " is revoked by Intel's root CA CRL")
    try:
        tcb_info = json.loads(c["tcb_info"])
        qe = json.loads(c["qe_identity"])
    except ValueError:
        fail("tcb_info and qe_identity must be Intel's JSON")
    if tcb_info.get("id") != "TDX" or tcb_info.get("version") != 3:
        fail("tcb_info must be Intel's TDX TCB info, version 3")
    if not isinstance(tcb_info.get("tcbEvaluationDataNumber"), int):
        fail("tcb_info lacks its tcbEvaluationDataNumber")
    if qe.get("id") != "TD_QE" or qe.get("version") != 2:
        fail("qe_identity must be Intel's TD_QE identity, version 2")
    expires = min(root_crl["next_update"], pck_crl["next_update"])
    for doc, name in ((tcb_info, "tcb_info"), (qe, "qe_identity")):
        issued = iso_time(doc.get("issueDate"), name + " issueDate")
        until = iso_time(doc.get("nextUpdate"), name + " nextUpdate")
        if not issued <= at <= until:
            fail(name + " is expired or not yet valid at the block time: fetch fresh collateral")
        expires = min(expires, until)
    root_key = (ROOT_X, ROOT_Y)
    checks = [
        cert_check("PCK Platform CA certificate", platform_ca, root_key),
        cert_check("TCB signing certificate", signer, root_key),
        ("root CA CRL", sha256(root_crl["tbs"]), root_crl["sig"], root_key, None),
        ("PCK CRL", sha256(pck_crl["tbs"]), pck_crl["sig"], platform_ca["key"], None),
        ("TCB info", sha256(c["tcb_info"].encode()),
         raw_signature(c["tcb_info_signature"], "tcb_info_signature"), signer["key"], None),
        ("QE identity", sha256(c["qe_identity"].encode()),
         raw_signature(c["qe_identity_signature"], "qe_identity_signature"), signer["key"], None),
    ]  # fmt: skip
    record = {
        "fmspc": str(tcb_info.get("fmspc", "")).lower(),
        "tcb_evaluation_data_number": tcb_info.get("tcbEvaluationDataNumber"),
        "issue_date": tcb_info.get("issueDate"),
        "next_update": tcb_info.get("nextUpdate"),
        "expires_at": expires,
        "platform_ca_sha256": hexstr(sha256(platform_ca["der"])),
        "pck_revoked": [hex(serial) for serial in pck_crl["revoked"]],
    }
    return record, checks


# --- the quote ----------------------------------------------------------------------------------
def u16(buf, pos):
    return buf[pos] | buf[pos + 1] << 8


def u32(buf, pos):
    return buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24


def masked_equal(value, expected_hex, mask_hex, name):
    expected = unhex(expected_hex, name)
    mask = unhex(mask_hex, name + " mask")
    if len(value) != len(expected) or len(mask) != len(expected):
        fail(name + " has the wrong length in the collateral")
    return all(value[i] & mask[i] == expected[i] & mask[i] for i in range(len(expected)))


def level_status(levels, svn, name):
    for level in levels:
        if svn >= level["tcb"]["isvsvn"]:
            return level["tcbStatus"], level.get("advisoryIDs", [])
    fail(name + " SVN " + str(svn) + " is below every TCB level of the collateral")


def platform_status(levels, pcesvn, comps, tee_tcb_svn):
    """The first TCB level the platform (PCK certificate and TD report) meets: Intel's order."""
    start = 2 if tee_tcb_svn[1] > 0 else 0  # TDX 1.5+: the module's SVN is checked apart
    for level in levels:
        tcb = level["tcb"]
        if pcesvn < tcb["pcesvn"]:
            continue
        sgx = tcb["sgxtcbcomponents"]
        tdx = tcb["tdxtcbcomponents"]
        if any(comps[i] < sgx[i]["svn"] for i in range(16)):
            continue
        if any(tee_tcb_svn[i] < tdx[i]["svn"] for i in range(start, 16)):
            continue
        return level["tcbStatus"], level.get("advisoryIDs", [])
    fail("the platform's TCB is below every TCB level of the collateral (TCB status Unknown)")


def binding(keys):
    """What report_data[:32] must be: SHA-256(TLS key DER || identity key), as the keystore
    binds them (the identity key signs the X25519 keys that secrets are encrypted to)."""
    if not isinstance(keys, dict):
        fail('keys must be {"identity_key": hex, "tls_spki": hex}')
    identity = unhex(keys.get("identity_key"), "keys.identity_key", 32)
    spki = unhex(keys.get("tls_spki"), "keys.tls_spki")
    if not 40 <= len(spki) <= 600:
        fail("keys.tls_spki must be the TLS key's DER SubjectPublicKeyInfo")
    return identity, spki, sha256(spki + identity)


def check_quote(quote, keys, at):  # noqa: PLR0915
    """The checks of a quote that need no signature (in the order a reader can act on), what a
    registration records, and the signature checks still to do."""
    if len(quote) < 636 + 134:
        fail("the quote is too short to be a TDX quote v4 (" + str(len(quote)) + " bytes)")
    if u16(quote, 0) != 4 or u16(quote, 2) != 2 or u32(quote, 4) != 0x81:
        fail("not a TDX quote v4 signed with ECDSA P-256 (version 4, key type 2, TEE type 0x81)")
    body = quote[48:632]
    sig_len = u32(quote, 632)
    if 636 + sig_len > len(quote) or sig_len < 584:
        fail("the quote's signature data is truncated")
    sd = quote[636 : 636 + sig_len]
    if u16(sd, 128) != 6:
        fail("the quote's certification data must be type 6 (QE report certification data)")
    qe_report = sd[134:518]
    qe_sig = sd[518:582]
    auth_len = u16(sd, 582)
    pos = 584 + auth_len
    if pos + 6 > len(sd) or u16(sd, pos) != 5:
        fail("the QE certification data must carry the PCK certificate chain (type 5)")
    pem_len = u32(sd, pos + 2)
    if pos + 6 + pem_len > len(sd):
        fail("the quote's PCK certificate chain is truncated")
    att_key = sd[64:128]
    try:
        pem = bytes(sd[pos + 6 : pos + 6 + pem_len]).decode()
    except ValueError:
        fail("the quote's PCK certificate chain is not PEM text")
    pck, platform_ca, _root = chain_to_root(pem, "the quote's PCK chain", 3)
    try:
        fmspc, pcesvn, comps = sgx_extension(pck)
    except (ValueError, IndexError) as exc:
        fail(str(exc))
    col = read("c:" + fmspc)
    if col is None:
        fail("no collateral for the platform (FMSPC " + fmspc + "): the owner must "
             "update_collateral with Intel's collateral for it")  # fmt: skip
    if at > col["expires_at"]:
        expired = str(col["expires_at"])
        fail("the collateral for FMSPC " + fmspc + " expired at " + expired + " (unix): the "
             "owner must update_collateral with fresh collateral from Intel")  # fmt: skip
    if hexstr(sha256(platform_ca["der"])) != col["platform_ca_sha256"]:
        fail("the quote's PCK Platform CA is not the one the collateral was verified with")
    if pck["issuer"] != platform_ca["subject"]:
        fail("the PCK certificate is not issued by the quote's PCK Platform CA")
    valid_at(pck, at, "the PCK certificate")
    if hex(pck["serial"]) in col["pck_revoked"]:
        fail("the PCK certificate is revoked (Intel's PCK CRL)")
    if sha256(att_key + sd[584:pos]) != qe_report[320:352]:
        fail("the QE report does not vouch for the quote's attestation key (hash mismatch)")
    tcb_info = json.loads(near.storage_read("ti:" + fmspc))
    qe = json.loads(near.storage_read("qi:" + fmspc))
    # The quoting enclave is Intel's TD QE at a current SVN.
    if qe_report[128:160] != unhex(qe["mrsigner"], "qe mrsigner"):
        fail("the QE report is not from Intel's TD quoting enclave (MRSIGNER differs)")
    if u16(qe_report, 256) != qe["isvprodid"]:
        fail("the QE report's ISVPRODID is not the TD QE's")
    if not masked_equal(qe_report[16:20], qe["miscselect"], qe["miscselectMask"], "miscselect"):
        fail("the QE report's MISCSELECT does not match the QE identity")
    if not masked_equal(qe_report[48:64], qe["attributes"], qe["attributesMask"], "attributes"):
        fail("the QE report's attributes do not match the QE identity")
    qe_status, qe_advisories = level_status(qe["tcbLevels"], u16(qe_report, 258), "the QE's")
    # The platform and the TDX module.
    if tcb_info["fmspc"].lower() != fmspc:
        fail("the TCB info is for another platform")
    tee_tcb_svn = body[0:16]
    status, advisories = platform_status(tcb_info["tcbLevels"], pcesvn, comps, tee_tcb_svn)
    module = tcb_info["tdxModule"]
    if not masked_equal(body[64:112], module["mrsigner"], "ff" * 48, "the TDX module's signer"):
        fail("the TDX module is not signed by Intel (MRSIGNERSEAM differs)")
    if not masked_equal(body[112:120], module["attributes"], module["attributesMask"], "seam"):
        fail("the TDX module's attributes do not match the TCB info")
    module_status = "UpToDate"
    module_advisories = []
    if tee_tcb_svn[1] > 0:
        wanted = "TDX_" + HEX[tee_tcb_svn[1] >> 4].upper() + HEX[tee_tcb_svn[1] & 15].upper()
        found = [m for m in tcb_info.get("tdxModuleIdentities", []) if m["id"] == wanted]
        if not found:
            fail("the TCB info has no identity for TDX module " + wanted)
        module_status, module_advisories = level_status(
            found[0]["tcbLevels"], tee_tcb_svn[0], "the TDX module's"
        )
    for what, value in (("platform", status), ("QE", qe_status), ("TDX module", module_status)):
        if value != "UpToDate":
            fail("the " + what + " TCB status is " + value + ", not UpToDate: the keystore "
                 "must run on a patched platform")  # fmt: skip
    allowed = read("advisories", [])
    found_ids = sorted(set(advisories + qe_advisories + module_advisories))
    refused = [a for a in found_ids if a not in allowed]
    if refused:
        fail("the TCB has advisories the owner does not allow: " + ", ".join(refused))
    # The TD itself.
    td_attributes = body[120:128]
    if td_attributes[0] & 1:
        fail("the TD runs in debug mode")
    if not td_attributes[3] & 0x10:
        fail("the TD does not set SEPT_VE_DISABLE")
    measured = {
        "mrtd": hexstr(body[136:184]),
        "rtmr0": hexstr(body[328:376]),
        "rtmr1": hexstr(body[376:424]),
        "rtmr2": hexstr(body[424:472]),
        "rtmr3": hexstr(body[472:520]),
    }
    if measured not in read("measurements", []):
        fail("the measurements (MRTD, RTMR0-3) are not an approved set: " + json.dumps(measured))
    identity, spki, bound = binding(keys)
    report_data = body[520:584]
    if report_data[:32] != bound and not read("policy")["accept_unbound_keys"]:
        fail("report_data does not bind these keys: its first 32 bytes must be "
             "SHA-256(tls_spki || identity_key) = " + hexstr(bound))  # fmt: skip
    record = {
        "identity_key": hexstr(identity),
        "tls_spki": hexstr(spki),
        "keys_bound": report_data[:32] == bound,
        "report_data": hexstr(report_data),
        "quote_sha256": hexstr(sha256(quote)),
        "measurements": measured,
        "tcb_status": status,
        "advisory_ids": found_ids,
        "fmspc": fmspc,
        "registered_at": near.block_timestamp(),
        "expires_at": col["expires_at"] * NS,
    }
    qx = int.from_bytes(att_key[:32], "big")
    qy = int.from_bytes(att_key[32:], "big")
    checks = [
        ("quote (by its attestation key)", sha256(quote[:632]),
         (int.from_bytes(sd[0:32], "big"), int.from_bytes(sd[32:64], "big")), (qx, qy), None),
        ("QE report (by the PCK key)", sha256(qe_report),
         (int.from_bytes(qe_sig[:32], "big"), int.from_bytes(qe_sig[32:], "big")), pck["key"],
         None),
        cert_check("PCK certificate (by the Platform CA)", pck, platform_ca["key"]),
    ]  # fmt: skip
    return record, checks


# --- resumable verification ---------------------------------------------------------------------
def cert_check(label, cert, issuer_key):
    """A certificate's signature check; once passed it is remembered (by the certificate's
    hash: its bytes cannot change), so the next collateral or quote with it skips it."""
    tbs_hash = sha256(cert["tbs"])
    return (label, tbs_hash, cert["sig"], issuer_key, "v:" + hexstr(sha256(cert["der"])))


def verify_in_steps(checks, what):
    """Runs the signature checks not yet done, as many as the call's gas allows. Returns None
    when all have passed, else the progress (kept for the next call with the same input)."""
    token = json.dumps([[hexstr(c[1]), hex(c[2][0]), hex(c[2][1]), hex(c[3][0]), hex(c[3][1])]
                        for c in checks])  # fmt: skip
    key = "p:" + hexstr(sha256(token.encode()))
    done = read(key, 0)
    start = done
    ran = 0
    while done < len(checks):
        remember = checks[done][4]
        if remember is not None and near.storage_has_key(remember):
            done += 1  # a certificate verified before
            continue
        if near.prepaid_gas() - near.used_gas() < STEP_GAS:
            if not ran:
                fail("not enough gas left for a signature check (" + str(STEP_GAS // 10**12) +
                     " Tgas): attach 300 Tgas and call again with the same arguments")  # fmt: skip
            break
        label, digest, sig, pub, _ = checks[done]
        if not ecdsa_verify(pub[0], pub[1], digest, sig[0], sig[1]):
            fail("the signature of the " + label + " does not verify: " + what + " is not genuine")
        if remember is not None:
            near.storage_write(remember, "1")
        done += 1
        ran += 1
    if done < len(checks):
        write(key, done)
        return {"status": "pending", "verified": done, "of": len(checks),
                "next": checks[done][0], "hint": "call again with the same arguments"}  # fmt: skip
    if start:
        near.storage_remove(key)
    return None


def event(name, data):
    near.log_utf8(
        "EVENT_JSON:"
        + json.dumps(
            {"standard": "outlayer-register", "version": "1.0.0", "event": name, "data": [data]}
        )
    )


# --- methods ------------------------------------------------------------------------------------
@near.export
def new():
    a = args()
    if near.storage_has_key("owner"):
        fail("already initialised")
    if not isinstance(a.get("owner_id"), str) or not a["owner_id"]:
        fail("new needs owner_id")
    write("owner", a["owner_id"])
    write("measurements", [])
    write("advisories", [])
    write("keystores", [])
    write("fmspcs", [])
    # Development only: a keystore whose quote does not bind its keys (the dstack stand-in's
    # recorded quote) may register; its record says keys_bound false. Fixed at deployment.
    write("policy", {"accept_unbound_keys": a.get("accept_unbound_keys") is True})


def measurement_set(a):
    m = a.get("measurements")
    if not isinstance(m, dict):
        fail('measurements must be {"mrtd": hex, "rtmr0": hex, ..., "rtmr3": hex}')
    out = {}
    for name in MEASUREMENTS:
        out[name] = hexstr(unhex(m.get(name), "measurements." + name, 48))
    extra = [k for k in m if k not in MEASUREMENTS]
    if extra:
        fail("unknown measurement " + extra[0] + " (expected mrtd and rtmr0-3)")
    return out


@near.export
def add_approved_measurements():
    owner_only()
    entry = measurement_set(args())
    allowed = read("measurements")
    if entry not in allowed:
        allowed.append(entry)
        write("measurements", allowed)
    event("measurements_approved", entry)


@near.export
def remove_approved_measurements():
    owner_only()
    entry = measurement_set(args())
    allowed = read("measurements")
    if entry not in allowed:
        fail("this measurement set is not approved")
    allowed.remove(entry)
    write("measurements", allowed)
    event("measurements_removed", entry)


@near.export
def set_subscribers():
    """Contracts told of every registration and revocation (OutLayer's on_keystore_update)."""
    owner_only()
    ids = args().get("account_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        fail("account_ids must be a list of contract accounts")
    if len(ids) > MAX_SUBSCRIBERS:
        fail("at most " + str(MAX_SUBSCRIBERS) + " subscribers")
    write("subscribers", ids)


def notify(record):
    """Tells each subscriber whether a keystore key is usable, and until when."""
    body = json.dumps({"identity_key": record["identity_key"],
                       "active": record.get("revoked_at") is None,
                       "expires_at": record["expires_at"]})  # fmt: skip
    for account in read("subscribers", []):
        near.promise_create(account, "on_keystore_update", body, 0, NOTIFY_GAS)


@near.export
def set_allowed_advisories():
    owner_only()
    ids = args().get("advisory_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        fail('advisory_ids must be a list of Intel advisory IDs, e.g. ["INTEL-SA-00837"]')
    write("advisories", ids)


@near.export
def update_collateral():
    owner_only()
    c = args().get("collateral")
    if isinstance(c, str):
        try:
            c = json.loads(c)
        except ValueError:
            fail("collateral is not JSON")
    if not isinstance(c, dict):
        fail("collateral must be Intel's collateral (dcap-qvl's QuoteCollateralV3 JSON)")
    record, checks = check_collateral(c, now_s())
    stored = read("c:" + record["fmspc"])
    if stored is not None and record["tcb_evaluation_data_number"] < stored.get(
        "tcb_evaluation_data_number", 0
    ):
        numbers = str(record["tcb_evaluation_data_number"]) + " < "
        numbers += str(stored["tcb_evaluation_data_number"])
        fail("this collateral is older than the one set (tcbEvaluationDataNumber " + numbers
             + "): Intel's newest is needed")  # fmt: skip
    pending = verify_in_steps(checks, "the collateral")
    if pending is not None:
        near.value_return(json.dumps(pending))
        return
    fmspc = record["fmspc"]
    record["updated_at"] = near.block_timestamp()
    write("c:" + fmspc, record)
    write("cd:" + fmspc, {f: c[f] for f in COLLATERAL_FIELDS})  # for clients (get_collateral)
    near.storage_write("ti:" + fmspc, c["tcb_info"])  # what a registration reads, as signed
    near.storage_write("qi:" + fmspc, c["qe_identity"])
    fmspcs = read("fmspcs")
    if fmspc not in fmspcs:
        fmspcs.append(fmspc)
        write("fmspcs", fmspcs)
    event("collateral_updated", {"fmspc": fmspc, "expires_at": record["expires_at"]})
    near.value_return(json.dumps({"status": "updated", "collateral": record}))


@near.export
def register_keystore():
    a = args()
    quote = unhex(a.get("quote"), "quote")
    record, checks = check_quote(quote, a.get("keys"), now_s())
    key = "k:" + record["identity_key"]
    old = read(key)
    if old is not None and old.get("revoked_at") is not None:
        fail("this keystore key was revoked by the owner; a new keystore needs a new key")
    pending = verify_in_steps(checks, "the quote")
    if pending is not None:
        near.value_return(json.dumps(pending))
        return
    record["registered_by"] = near.predecessor_account_id()
    write(key, record)
    keystores = read("keystores")
    if record["identity_key"] not in keystores:
        keystores.append(record["identity_key"])
        write("keystores", keystores)
    notify(record)
    event("keystore_registered", {"identity_key": record["identity_key"],
                                  "quote_sha256": record["quote_sha256"]})  # fmt: skip
    near.value_return(json.dumps({"status": "registered", "keystore": record}))


@near.export
def revoke_keystore():
    owner_only()
    identity = hexstr(unhex(args().get("identity_key"), "identity_key", 32))
    record = read("k:" + identity)
    if record is None:
        fail("no keystore is registered with identity key " + identity)
    if record.get("revoked_at") is None:
        record["revoked_at"] = near.block_timestamp()
        write("k:" + identity, record)
        notify(record)
        event("keystore_revoked", {"identity_key": identity})


# --- views --------------------------------------------------------------------------------------
def active(record):
    return (record is not None and record.get("revoked_at") is None
            and near.block_timestamp() < record["expires_at"])  # fmt: skip


@near.export
def is_registered():
    identity = args().get("identity_key")
    if not isinstance(identity, str):
        fail("is_registered needs identity_key (hex)")
    near.value_return(json.dumps(active(read("k:" + identity.lower()))))


@near.export
def get_keystore():
    identity = args().get("identity_key")
    record = read("k:" + str(identity).lower())
    if record is not None:
        record["active"] = active(record)
    near.value_return(json.dumps(record))


@near.export
def get_keystores():
    out = []
    for identity in read("keystores", []):
        record = read("k:" + identity)
        record["active"] = active(record)
        out.append(record)
    near.value_return(json.dumps(out))


@near.export
def get_approved_measurements():
    near.value_return(json.dumps(read("measurements", [])))


@near.export
def get_collateral():
    fmspc = args().get("fmspc")
    if fmspc is None:
        near.value_return(json.dumps([read("c:" + f) for f in read("fmspcs", [])]))
        return
    record = read("c:" + str(fmspc).lower())
    if record is not None:
        record["collateral"] = read("cd:" + str(fmspc).lower())
    near.value_return(json.dumps(record))


@near.export
def verify_p256():
    """{"public_key": hex (x || y, 64 bytes), "digest": hex (32), "signature": hex (r || s)} ->
    whether the signature holds: the contract's own ECDSA P-256, for anyone to check (view)."""
    a = args()
    key = unhex(a.get("public_key"), "public_key", 64)
    digest = unhex(a.get("digest"), "digest", 32)
    sig = unhex(a.get("signature"), "signature", 64)
    near.value_return(json.dumps(ecdsa_verify(
        int.from_bytes(key[:32], "big"), int.from_bytes(key[32:], "big"), digest,
        int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))))  # fmt: skip


@near.export
def get_policy():
    policy = read("policy", {})
    policy["owner"] = read("owner")
    policy["allowed_advisories"] = read("advisories", [])
    policy["subscribers"] = read("subscribers", [])
    policy["root_ca_sha256"] = ROOT_SHA256
    near.value_return(json.dumps(policy))


# k * G for k = 1..255 (x then y, 32 bytes each, big-endian, in hex; bytes, which slice in
# constant time where a str is walked as UTF-8): a fixed-base window that halves the additions
# of u1 * G. tests/contract/test_register.py checks every entry.
G_HEX = (
    b"6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a"
    b"7c0f9e162bce33576b315ececbb6406837bf51f57cf27b188d034f7e8a52380304b51ac3c08969e277f21b35"
    b"a60b48fc4766997807775510db8ed040293d9ac69f7430dbba7dade63ce982299e04b79d227873d15ecbe4d1"
    b"a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c8734640c4998ff7e374b06ce1a64a2ec"
    b"d82ab036384fb83d9a79b127a27d5032e2534a3532d08fbba02dde659ee62bd0031fe2db785596ef50930244"
    b"6b030852e0f1575a4c633cc719dfee5fda862d764efc96c3f30ee0055c42c23f184ed8c651590b7a515140d2"
    b"d784c85608668fdfef8c82fd1f5be52421554a0dc3d033ede0c17da8904a727d8ae1bf36bf8a79260d012f00"
    b"d4d80888d1d0bb44fda16da4b01a172a76a4602c92d3242cb897dde3024c740debb215b4c6b0aae93c2291a9"
    b"e85c10743237dad56fec0e2dfba703791c00f7701c7e16bdfd7c48538fc77fe28e533b6fa0bf7b4625bb3066"
    b"7c01fb607ef9f8b8a80fef5b300628703187b2a373eb1dbde03318366d069f83a6f5900053c73633cb041b21"
    b"c55e1a86c1f400b462d9779dbee9b0534042742d3ab54cadc1d238980fce97dbb4dd9dc1db6fb393ad5accbd"
    b"91e9d8244ff15d771167cee0a2ed51f6bbe76a78da540a6a0f09957eea68d7b6fedf0b71878938d51d71f872"
    b"9e0acb8c2c6df8b3d79e8a4b90949ee02a2744c972c9fce787014a964a8ea0c84d714feaa4de823fe85a224a"
    b"4dd048facef66d6b2a3a993e591214d1ea223fb545ca6c471c48306e4c36069404c5723f878662a229aaae90"
    b"6e123cdd9d3b4c10590ded29fe751eeeca34bbaa44af07733ed113b7883b4c590638379db0c21cda16742ed0"
    b"255048bf433391d374bc21d19099209accc4c8a224c843afa4f4c68a090d04da5e9889dae2f8eefce82a3740"
    b"741dd5bda817d95e4626537320e5d55179983028b2f82c99d500c5ee8624e3c40770b46a9c385fdc56738355"
    b"4887b1548eeb912c35ba5ca71995ff22cd4481d3177c837ae0ac495a61805df2d85ee2fc792e284b65ead58a"
    b"98e15d9d46072c0163bb58cd4ebea558a24091adb40f4e7226ee14c3a1fb4df39c43bbe2efc7bfd854e77a00"
    b"1c3862b97a76647f4336df3cf126acbe7a069c5e5709277324d2920bf599f1bb29f4317542121f8c05a2e7c3"
    b"7171ea77735090081ba7c82f60d0b375f0454dc6971abae7adfb378999888265ae03af92de3a0ef163668c63"
    b"e59b9d5fb5b93ee3592e2d1f4e6594e51f9643e62a3b21ce75b5fa3f47e59cde0d034f3676a94d138a6b4185"
    b"8b821c629836315fcd28392eff6ca038a5eb4787e1277c6ea985fe61341f260e6cb0a1b5e11e87208599a004"
    b"0fc78baa0e9ddd724b8c511047776904c0f1cc3a9c0984b66f75301a5fa68678f0d64af8ba1abce34738a73e"
    b"aa005ee6b5b957286231856577648e8381b2804428d5733f32f787ff71f1fcdc1057e0ab5780f470defc9378"
    b"d1c7c87437bb4c6f9ea55c63d936266dbd781fdaf6f1645a15cbe5dc9fa9b7dfd96ee5a7dcc11b5c5ef4f1f7"
    b"8d83b3393c6a45a2cb6d2861102c0c25ce39b7c17108c507782c452257884895c1fc7b74ab03ed8358d7614b"
    b"24d9ef515c35e7100d6d6ce4a496716e30fa3e03e39150752bcecdaa83a01a9378395bab9bcd6a0ad03cc56d"
    b"56e6b19250465a94a234dc4c6b28da9a76e49b6de2f73234ae6a5eb9d612b75c9f2202bb6923f54ff8240aaa"
    b"86f640b83250fcf686637c7b2e4ac86eb473bca53a582139f42b1523fd76364e67399e8342e7c342667d3593"
    b"97b3090d1d7eb88c897cd3c33b566a8215de24a071d48c09c0dd241a50d48f99fcc7a186a6d44e0763ec9047"
    b"8e1def8e36f5c4e950d67afb8286732ea96548b841a7cdc6eac062d8da78e57ce03ea2d60cbcd16bd8caec6c"
    b"0e91c7239c2640d7d28a3e39d4583fa63c0bc0a5df64a4fe672e573045ca78965df65c3b550dba221a22733b"
    b"b8e0bd6d7e68833575e7a5ae138046543140ad55db474918ec62ad7eb652b8b0af585aba9b2f394723ab1037"
    b"76e27d7d8c2aa4cb85811d39bb743f28439794607b06d52b8a249c47830a37d221db656c94a7ab553a67e255"
    b"4b0c0bb685f4f52d8c07fa8441652fc5b76f1b2484a4dc45f200d68727d0f1872f1fcf4326daf267163afb0d"
    b"8c188af735a7618aa9ed16b302f79324f5757c012185a599d1f3958b0ae68aa5dffd3d78e1a2eee674170018"
    b"57658331393a6ed02c7675b24b1238d1d2a08fd50a6e5e5108df840bff533dfe7268dec4184ffa5819d80d51"
    b"deba2fac4611f378576355bd683e54abf2e201173b0883d1c0a66e276688f359a4c6d90826cb999545bdeccc"
    b"63f0491620d242c260906e6f38d86fa55b4fd1586c5f05fae7acfc4d36cbdcf7fa62129339246f69c4300e4e"
    b"3f93b85a4abd0f277ff6a68909e7022ef8b9fcbb91d89bb79f930dc0ff69e47bd6d33adefa195b07a7c36da0"
    b"90853b8cfd8cd1c688b58a41dedd693d1c784def84aaba16ee195d7e3f78245f558a5dcb09a166ab4b95eded"
    b"550c124593d1bca6409f8da21aea236a5f5a1904d0310c1c6192a67d0da08936319869a8ad0838a370dcf7b1"
    b"cf008e570e26e72bd3bd40f73e99a0ec162a6793e163d2c72a1e8f5a301d9e502dc7e05da85da026a7ae9aa0"
    b"fac9db7d52a95b3e3e3f9aa0a1b45b8b6551b6f6b3061223e0d23c026b017d72298d9ae46887ca61d58db6ae"
    b"a17ee2672377c7d690a242ca6c45074e8ea5beefaa557fd5b68371d9d1475bd52a7ed0e147a13fb98413a439"
    b"3f8d90e9bf901b7e6658a6cdecf46716e7c067b1ddb8d2b29807d699fcd81356fa9aa25b89d9d34ea03b0a53"
    b"3aa872fd65c100f3cb2cd793c2a59cdccab11bf286a01a4d1d091b2fffe630b96c5878532f6bf92479634af4"
    b"2f9e6ebf717def118d1a092fce97133919cf2d31b7f8be6cfb7fdbe16820999e7aeeaad8532f8821e3cb1a14"
    b"d0f524f61682d2950aedea0d756b880306be0b2fd58d4a589ed27d168ffa3ad7326c48ca94e8e1fe92af9700"
    b"a12d389033bb291ad45514d102726b8576ea92632dc7fef667271c163b034979a5b0c9c6f586b9d5da5bd2d1"
    b"11c3731d14281d73d5e965a384e94cbf9664dc227d2a45b9abb598ef6166fc1938f06c542246527b075df922"
    b"bb15925817b426a492333c242044ae5f419a6a646ddb817dd6b0978611a826aae0d21379246bfd4473a92894"
    b"502b3348332544cf1102f584545c9fb1954c2fd513c6d072f3dee1e2db1d6c81b09214b2971581bdd1356ea1"
    b"b317d7b29059611176788153b4d38f8d81155d60576d8c46870ce8afdf0d59c19dd52f1e8654186aaae84346"
    b"183f325380c784e32bcec59222a682f7c3996d4d42014976a179046e547b942dd2d138d4a0c199ddfb2776c4"
    b"4f4606b0102223eeb918c9835a54356c979dcc310265b0685347f649cbaa285dbea01e7daad46131bd5b1858"
    b"4d0ee0c457b44d35ae412c0faa74b4da1aac91e621edd4e6094dac05d882ded2816bdaf610fb9f1a296ddcd9"
    b"34c7ff6431d51d1c67a6bec240dee0651cf258d2e6cfe8aa6067c5c3d4175a593a7de694995d2fa2de692b70"
    b"22d131586c249b49464d44991542c7ee209aca6c49c24ce1441feed56780c5fc70275e2c7061a0e7877bb174"
    b"deadeb9887027f3fa83654158ba7f50c3cba8c34bc35d20e81f730ac1c7bd6d661a942f90c6a9ca55c512f9e"
    b"4a001266986ae2506f1ff104d04230861d8f4b498f4bc4c6d009b30f7544dc129b82d28d003cccc0a6460e0a"
    b"e328a4d97d3c7b61d86fc6289c189f2525110c441bb07e974756686a0d7e11cb04211f7813b498c2170bff9a"
    b"f47aab0e652d0380ac8d4f9bce334fdb54863a6f2ffc258f3474c4eb65755aa6384890b40e824a9882f785d0"
    b"a891d06670bde99b3ecd0f5ddff0672e0f5f609edd29d6d979c78080fae0ba03b596cd922cbfa1c1419a88c4"
    b"033c1ce71c6b38f0feb0f2ccefc3edc8166934aeb1bb852cfea701fc42caaa1a5b5eb6a5174e94f87c4d3b06"
    b"12b46293eb5925f81d337dc66c7874cb46047d206fd1e6cd2075978e09ef174f783ea1f98bde3cb042c315cc"
    b"48958708595361ea83071bbcdd5b31583e19066d51d689227b1c0d7c649a61ce571b95852914d1dfbb7a7990"
    b"74f1a1e1eb87f164d6c4a72bb2f9b1b99482fb0e492539ec8cce745be070cda11c2e92960a201a61abfb9dc6"
    b"9e4536ca351d9ca745f157f91a5d638ca7534e63f63d5e295707bfbb1fad863bf58cc1c8f785b0e098068875"
    b"bb22b146866e6c0528fb7ea9758fd4fd7d228ce6a567445573fdb0bf6080da6ee15c767f0d9f5b414b04b6fd"
    b"5f3aa60ae7bc490c10d62408ba6821cba9bab3ba57a98127482a5de00c108a6ac3241ebb508c58a24d9edba2"
    b"8841c5de60c4af3b87375ec78cbd21e7e70a85292d77eb4f8f218b036784e120672c4a514d9de43eaadee686"
    b"3c1d68bc95f7eb56e81008ff044360f0018e22b1548c7e9196a25bfe611de5a4ace203f7136246589704d941"
    b"9935399191f37104194e35c4ec2f25ef537105d2b2e54c1803eb2d0a04492e3d2e1d72d04b978b18af42679a"
    b"c14ea798bdb78f1683c4294c68ea7d11e83d569bc049fe2403cf47646f01bd49c9d952455a47802254b88039"
    b"982b1ca78de9b983f126ec9f7449d0361562080ff1d5deab11a0f21a608776cea78551bfc3749b08360233dd"
    b"989e17db6fc0cd2131b9eb0587c40153ae03fcc8f4b7dbe02cdc59fa4aa8b7d7c3a3dc7dd4b77618646b0513"
    b"c0e9d83bf3764561ac630a8e350bae857b065b1731fde2a4079dba7ba068c9267571a109fe7fea2cc2a595b7"
    b"62c1eadadec1dff7df6e60a0dc1e19b743d4d1811d223f9d2a9588ab83eb2df35751a397fb0da5aeb4824dea"
    b"6f9a14fbbcf2815a42e8b595d0d5a0eb956463496f67dc0d60a7520a83fb632ec8429eb87b404f2a854c2de4"
    b"c776c9db9d87f2b8dd394a5b92d75da2f24ecf29c116e30ebb4d2865126d45a8ea907f86289d406e2d6c6bd8"
    b"8abd97b1d0f56077e9478823c35b30c2b8b16d9bb13b87657d5bd5e89e59c8c5313fd7fda410c206ec247d21"
    b"6208539a58912acd04d6df1f8b0b3c9affdc599e9e2481f254419b1dca31ca404b25347546e93b667595a5dd"
    b"fc715e31da31f5982b9106263ac41fde665f1a6ffe0c6437765b2784fca9bdf7e50941119e8dc8eca2b6ea0e"
    b"0faa4b45490e2ca49ffd18c26e8cca29f7eac37f7dede5bf81e215bc6e25a6602b7f4ccf05dae8c2c5a5afba"
    b"7e53b9efcac1d0b8224559146918d320879bb82d96ef4963bb07a44d03c08119e2f782d0d70304cef299e802"
    b"d1d3bf625690236051d34324059ccb19edd3da9a2d3a6b3d8d9900013e7910a08b724fd55939ac380d32af0e"
    b"bb6ad7eccad49159da65281b9345638e1621f7a33956cecd928e1e3c97fe91d1571c05c84021edcec4b1ac99"
    b"9829ecd80f8216b239c67f269f88ff57ae8cce2bf9325afc175332192dfb3d9f305f499affcc0cf8a6bb2ddb"
    b"ac0128c284ab81156a9501d85bf5dc802a1f28a08acc7d8fdf53c8af01a7cd3832a290825d8bdac1ca640ad1"
    b"9347374381c6c6e44a3c56a3f8461b5c697a6f3530aff53d5f1ef1a30a0643fb8fcc14def67a6a5eb1bf8e91"
    b"25b35edc7338d816aa4110a6b90ee785553438324a9e7955c520dacda2920e700da10d00e7012ed7bac0d100"
    b"861f9cc234325dcb458d8e5b343d0535537dd5e09c7046afcbf39f6611aa2ec254ea34108568d1dc50295547"
    b"96cd238c49676718794deb3ead76feb86f3b1601f3c869c927dc812de9374f35b5ff02901dd3f0225bddad4d"
    b"afed3f1dfcc068c9e0f5ab7b8ed95e95d913435e93e5ac18196c1eb88df7156b3ed0f3cc7f9095857eb0ffde"
    b"2d27033cb622fa8ceaef897b52466883a46a6529ce596ff8d916cd0b10a6483cea177493148e92a4d0123f6d"
    b"098326882a05d594ab147bf9599a4bf4edc331b2a0800221b34ea2190d562dcd13f900216dc66e4e01358365"
    b"fb1b2490b1dcaf1031192ed5dbb06e51e3b55dced616dc96fac9688d710d71eb102be4ff88c08d0e52910a01"
    b"1565810be90d03a299cb55851bab33236b7459b21db82b9f5c1874fee3d03339f660528d511c2b1865bcdfd1"
    b"05490ffc4c597233dd2b2504ca42a5623e683bc597d05abb0a4479d5dbb8785e626e33d1b806480680896ac3"
    b"553c4d97a21f1a53cdbde7ff7c0a7d0f55c42918472352a351c5afa3f7cbe1bf4ad394446e4b20574af29f6a"
    b"aa5d897cf601dc0a9fae27b0bff2a1da8b49bb9d9260e96961d496eea86c4f2646d7eaad0896b1d23e937c54"
    b"efd04659c0ac3c58afa1621323e05db897430367f77b046393263e8853ad4ec302521216b6a3c88c38afb03c"
    b"f7a6313fc01cad46dfa96c4379ec9c32673b13e5cc8e654f7877d5011639faa3392c4bba3e6106244457d51d"
    b"bb46a198d62b953bef294a1336920e63cc4940cde50c821ad6af849db3c3d7bf6b594c91fcfd867956882209"
    b"5fded58287146bd2d9ee02cb49c3d67a306618f14d8b668ce1cbc9b93c672d5eac0ab10edfd0b2bfe9fac9d8"
    b"a95cf676822836c81654911bb501235b143ed385747e39e6ae14b6c58d435a0fdd81431f3e1cd4eed4432405"
    b"61a043cd71bbd4fc6cd5ed29e021934bbcd8433681b32c85532912cb2a67107608f9ce9475feeb9b968f1cec"
    b"eaa1d1acb43b6d83844deecf19a6d79334dfce09f4a158cb7f136a64d52fabefbae21e8c115af28963fa0cdc"
    b"5ecdbd985fd1b0b4a6352272026d3e574b4d8f7bce6bfb7f5821b002dba277251a9d18eb72d5c720f4efe021"
    b"b38029c017d871340893be7b23ec12d67a538534df9b62f63fff5866869c04f125ded1c31bbe9540e59f2363"
    b"f15a2f3071e5deb0643ae80ab6565bdcd22b31d75a50ff4fd167018a33e671b23378f4c31e00234d7e2330f0"
    b"eda0b0e1ea988aa39704d1cf6eec60b04bb452e7dbd2f3d34beebf77121ef296d3aea625624289e1dcb58b8b"
    b"d4dbc74df022295794a16bbe7e5762d0eb3e890abc26ed34587e52133edb809e3e344b3b3838fb9fb2e1b7c1"
    b"7ae931195b835a5153081eeb63764a1cdbd0633c49b1dae295ecff13e6c0441313a3ebccf233a1a2aad758c3"
    b"87da1a9817dea2e6a3ba4989b2187d44d829ab2d2eed358c8464c3093dc72e911e2a1b96700bb9b12cdcf0c2"
    b"a8a3b0723ec1bbe459cae899e1f6c7be2a598059166273e2d406aaf7cf3bc0b0b543775e5772406bb2028e1c"
    b"2cd85d9520af8f5befc09ab16c34ac5b6bb6754d30be700dbf31ec62fc57b94d364ea0094f3b04507b6bb05c"
    b"5f9cdc508ed320013bf28b178ff01da682fdda5761e3fe0285630a57631e6eddfe1aa0bd28b945c867e045e8"
    b"3be3b91ef709bc92645291e2e58038b472565cec7b0f557f5e039b1b1b7d52d8dd7eb43c9fde43c104f00dcc"
    b"119a57b6db9569ed3ad1c3c711070313c3f91f07bc9150264f639baebe2971aa3f65906d2b0cfe78cd572ab8"
    b"619088c50cf2fc0884d067191caffc0e3fbea9cf65bdd242a942f1f95dab91751f97fea1c9f64e8bd8c9d818"
    b"f5b6ea38c68bfd91caf3f8b361304a7c351ef683c46fbcd4b30900d92d4bd530c8412d87d004abc845ee4558"
    b"6a7be6c7cf602ce2197bf27871d5a0b98cdc2f6467e1c3feb0ad260e1a7512cb123eaea6111c4fe7045b364c"
    b"2eb1e469d2b3ef863cbff9c5f49d996faee486879433543b9d296f1c672fc426889334fc566d7e001025a8ee"
    b"5b046629035cf83c921ba797f1b1baebd4511c8e8e2f4f0ec4b4d7b3589e882ef502ee95066dda7746ed3439"
    b"02037aa69442ab908ad2a4c6b7dbf7820315a2c876c6f3200a80a6df591fb00a65187b1ad77ad72ef0bf5c30"
    b"fc8b9e62fd84b49a3e70b728e31a34fa21b5fa95141f580fc96a49751f461042d5b4287a2a5816f78bfc86cb"
    b"0b63b6086da77b7c5a014ab0f51db6524f3d820db250bb19a7768783d051c1a254e735b22aa996ce835871b8"
    b"96a19fbc3f50a457c52c8b8df581d1dcdd84c10d574f14f3f1d5c736cc31553076c78e5487db08c907a1e7e2"
    b"c7de6ba130c619436dd3f71ef240907ebc70710189c4cc1d387738ca9cfc4945aa3fd5ffb2828204cb47806d"
    b"03123fe158e45dd241a8d7714d3c7049c039d74df1416c3a080e9a658ea59cc22e0decd0a003b644459cec42"
    b"d2fb5e3566d095e988b614135104ae5d69f052f0b21929681dbaea056171e87f27ab7b57d73fc6300614a355"
    b"414994e1dc29a3c6e55acd833679e294291d9c0ab90a4a9d03ed6f0e2cd69c0db1b71c30ce01e631c0d43d80"
    b"00c8879231dd941178e83eb180d1997ebdbe8e54e05596196c7a95ec3a53e267ba2a24719960aa577e6150e4"
    b"f39694fdb824f9a7a4d8d7b5f3e9adb3feee1673b5b9a75a5446c71882a87d12dabd62029b4d0d1329f9e1eb"
    b"a1a2b0c0edf5380bdd4388c88aa17c957d4627749ac784cdc8ad3fcd31cb988965424681cc263496d577e42e"
    b"ed0cc412a77ea93f492003a35c8c3794d24451d361c37440e512fcb2acbac2f4ad24cb7afc635a501f1569cf"
    b"b333b4de4d832ff96bdc79a23c1bc670e0b2e049c9166b28b8188b9a20668209714547d0b6bd8a416b9faa62"
    b"b067b13cd17fe6d3bf1949e634bf9a19113ca8c80168fe5dde5738a8930de06da1fd67f8aa682fbd076a4965"
    b"a9d1fd83e6bd10001e95620812a18095976c0db29308e401416daf33430b7da5713bc0a9312938cc51acf524"
    b"f455c89fc0bec531431dcfec0eb2ef09c99247615d59ef3521508b35b4afe0f01ad0857e7e1dbcc749688dc9"
    b"11e3a74c8a0e83174c8c609ce2f8f5d3f58be2cd83681e414ad64ae98ccd53fc446fe12d9408df4140f7fcb5"
    b"490a19531f168d5c3a5ae6100839bb2d1d920d78e6aeac3f7da81966c0f72170bbcd2f21db581bd5150313a5"
    b"7cfa2d9debe20d9f460117b588fcf9b0f4377794cfc746589e4a140785b3bf94c7269ad1b17ad259fbe717c2"
    b"76ae0b0e749833af9ee25d020b5be979be4f9367e271322ce8a1006aef0e41f611e7bb1930978ef8e0bb4e11"
    b"3272f7ef85b6fbc679e8fd1f1e08d7ad64d27932efa2c429f0144b9eb260c91f809abbc5cf01b7d6ce7a6b5d"
    b"6e15f519efb07246aae4170386979cd399f888ff112b3f5d6033c6114f7232d6f379987131d5ed297f3fb1c1"
    b"fc2aabf65d6cb14380271b234f3531d93f8b3a2de4bfa2b0706ac282fc983789dfce6f6767f56908a1d219d8"
    b"e02a719cd247386d4b334e33eae9088054202671ce1ba90e3c412b7741d487db94fbee9db369d11e9a70306d"
    b"d9c2ef718123475d737e8900d4cf299b52904a6770a8313e6db1fe12fff59bdc9abbc3aa496bbc6162ab6cc2"
    b"fc494ce7a52a4c83e4d8a1135f292428ffed4546c22d751ef9346544e51769f90407dda4ace0b0a5cbd79e06"
    b"2491cf6a1fc55bed1d937f5e4882152892eff02c1efdbe630321c78ad55bbe0789de16252f5e695d43df598f"
    b"79b786a89bad5fdbf9c1c90b9aac1fc3e77a915d28dedac2d897e7a5fc7d75bbd4ea99cfe649ce7f7c7deb67"
    b"a844cd3842429ee2ef2f1a7f144bec235d38d3dcab113c2dfa54a06bbf1431603a355a01e4f0ff854576240f"
    b"3adbcd02f0dcafe45b452551b66a435d538392bdee4d411b8aa15340b49fb59ca384b2a998f6c2db229a64b1"
    b"8e9895f005949c0407257fa172399f899019993b5700d21eb9a176240432191239585f43bdf1d7ea1dc39756"
    b"45dff17312db17599bf0d4e8dc71f1d907401e7bf72336066a712a3df5775f517432d7d7a716ebb60f322612"
    b"e8e4f9c30949410fbb0e038fcf21b165ef3d79b5b6cf000e4043eea96181b76a92ac7d16dc6e991bf768b8a2"
    b"3fc424067a1f679b0fe2c0ae1093724f6233002be8063cb1cad2cccdb85b089e5bb243009e581be52aedbb47"
    b"eda98d26cf9fc800f7934c9466aaaef8c6629ecfb433462e7f1b6bc2cb34177dcbc6ee340703e87dfc2309e4"
    b"38bbb334eef87286a0da54526ed2b5fe383f4e72c1692e6f9dce20806a2cea4b7ac047f6841496d995e3476b"
    b"96a9454d467d26bf88c13fd78e4100d7f5b4bfe1a73c1a3004d85e134676645ea10f7550a88dcbf9f340e0ec"
    b"4043f9d4c830228e9bfd92a132b7bcca6cfe11c0e07c631156b33bd726b76be660b724cfffa76206405bbe79"
    b"9fb1ed7965fd6ebdfedf7fb3e555fca7e9a4d80a305a70476754731a2ae12f8bf0c0585f49efa5f0a3978fe3"
    b"8f6e6637ecb67bba03cbb8d52209b18df4bc4671406b50e48551c53605e934529148ff2bac153b350bd2e06a"
    b"cb555371b7210c6a6deef872792da700cfa7c1cdad3ec025adb37b85afe23928f927e7683299364d71656398"
    b"7275e4ea7503316ae1210a3887def4a8676f86c9c6e2a8db0fcbebf9e9b92479f9d9f00c0c3d104845bd7720"
    b"0497c5b072850383b2b91283a697ef313de16f2d0ddee1f404154e79473f886a537b8fcd4d99ef6db92b6cba"
    b"85f8e9d1a4c34e090e9f9817bde8b313bbb0d66e32b67ce7d2230f2b0b28fe8ad486addfe94bd05ba8715d55"
    b"4553d3d32b621c29472a3f550b18b8bc11cb1d7c5379c6fc5fe0efee050f1973f020476859f33217266fa0af"
    b"41af2eae2ba4b223d19c9b1d4d5a20c5e3a723ef8d64df2ad1fea9a5a272feaf13d0e0a9b6b540aeb02b3a10"
    b"92e16df0e1b11b350da02131f7f545859060d2bb386f232ffe4215f7e822f66cb672a1d8fc8ba02c6b27fc2f"
    b"88454df46adbeecf2b8808616f111687b63aa9ec681f679ce78e6b2aff0e7073d9aa4cfc8af6741bbec04e4d"
    b"b26cd86eada7e96300cb7a6914442eb0e6c87bde9e36a299addaeea8c3042b42b0496b7d3b68ea73311638c8"
    b"6d0e8bad1a54d0516fd6fa78e3ff1818a437e6c21df8bc7310afa0c631032258b99f798d64cdbe48992df849"
    b"dde11c012dc6d8463b6475175a3578c12dffa8ca811a6c2bd2a547d0dd84747297fec47719e7c3f9b0024f02"
    b"7c2b237be99aac39a9230acbd163d0cb1524a0f5ea4bfed6058cec6f18368f72a12aa0c4d083ff64f3bd226c"
    b"7926de5347629ae53c60feb9c08fefbe6a8e4554970bb9c6ac6aae8a8b2ba497f8ac3e2687c616e193df1de4"
    b"16479963da33f0970928d2e0eee6bda58ac7e1b94ed385ded83b1b497c1538c6e827db6eec05db6dec9b2d37"
    b"322489562bc15c273913ccb57067cfd8e2448a486444f1bfc89743d801754c4aadb1e63cb059c546bbe6e025"
    b"5f112d3a4e8a20b4c20fdee689bc90e92cb59830519b87438d00e3b7fa5fea2cb72b6c42e10c13d19b8910c2"
    b"f579407d8b1ecbaa13dc1098534d45db6baca8e2d2a5d0a765f16013a8d4eb58c6aaad3567cebdfac42d623c"
    b"fad669c89a2a54e44154357f992ccec8eef093e0f23a631d17fdf664419e500cae3f7dba0bde8b6ad7ce2f8e"
    b"ede4b762c556dea678f859626a9e6235a674c4f61c0549fc0a69995a24b8c213249db9a97940500d085f8a5c"
    b"1ee0553e711f4b53fdc2915e626931b17b6bffc90fa47257dfabf0fb6beb8ddcc529a23391a2a4d469875848"
    b"075da770bab37fc34f539c5a80a0e5f98f01182fbe3fb01680399178bb4cf65f80e7327f2b38f043a11a3e13"
    b"33b4dfb0159ee74c8c503b3312d6a25b2547379acd64195797ab034cd329a5c036e7a7da726d9dc4cb16e2d8"
    b"b37cff6b7e0cfeda14e8b9707e5f375fa07dbc3cb8ba4d0d1790aedede7797c8fc9b78875b7dde8cfa56c664"
    b"23eb43d634b21950cb9b812a276eb8005a268f1e216620b8a7d97d1f67b529daad2be62a68b373f5e93a5acd"
    b"2e055a9ec9e785f4f776e23d62ffe415ae0ac972b8dbad091caaa0fa12b776703c38539ab222e62b024bf160"
    b"29ee3680c3c5ce19c7eca26dda1062fab3b1d0476a62272fbc972f0641b22527b8dad1a3eed7c275b810a4ae"
    b"830f0454a44da4c5782a4a18029c6401ef0090d1aa29f05fbb97f9c4f9adb382220d35ee828f68b25b54f235"
    b"db1067f531541daae715edd6593ac2f6acf00fb4ac81a0834c8f96a3653948758b17eec30f5aba1520236869"
    b"20fefc109d95e34a75e878fda4d46b1f5497f89a9e609f5bff4fbbb25baefda0e85eb74998853a2959f7ff9c"
    b"9464f775af1207489efc13e5cf9d135e5e1c5ae4fb09c8eaab6468da634eca8f3e3e6d7f8e6046550cb87219"
    b"08fe0d581dbe0e4cf1263ae1011021805a75d65fc34bcf5a7cc488e7666ea648fdf2b0b339daf267869de081"
    b"f789324098661a15bb89d0874dde29ddba88c0c08a6329d29933f25abc0170dff9e7544c57f59ff0599b8653"
    b"163ea8dcac923a1c5b00759d4ec912203f45c9d4ad1c19789981c1ed4d02f87284e31be3b1ee2be28c0d691c"
    b"7afb0db8e10a79bef766fead64579e18bc5654b64c7f9951b0da28347881b4e87abc32442d5aa6a9a79118d0"
    b"4c517a43eae0e6f483a434972a92100feb43969b8bcdc69779391e2eae3278106155192d6a159e69660f09a3"
    b"3dc8681a4073e799743cd36cb46ff24cf5c3d6cf8f84f6dea3c215299a9fe2e39433d5397bae3ff586a6e697"
    b"a7c7277f965701718f533ac038ab9fd7e2afaf0ccc810dfd2ce57573f7757a5c2b39a294eec055714a2dc218"
    b"e0b2c192f21151d550bd7cbbf8b24a3832bc6817f54c0999ce0e7a9b4f7583fbc4ac7e2e59f2540a71f5b899"
    b"beaca052e834fe4aa5c3ab3e0e0c045106840c52ccff25dd34a183c416489c5d6ac037da2b079cf6469a6a57"
    b"762c9f4640991002872ca81da3c67ce434cde64fefc865654dc9b2c29cf6728b86b93a5c8c6d6607960d267f"
    b"03d3ba5b3934e6230be3606dd15bde1925796247478dfd16228446ee272c319b856d4281ac1a58225ea13453"
    b"a47420ce4d3da24cc186e905b5567b19189158875eb0c7601b986b5b197943812ebbffdf7be1bfe0e73df936"
    b"19967afff3a5c08db9f6ac78696ce3a7e2769c52abab69bf2ebe50004d7872aea45872b1efda21434ff5f61c"
    b"15f40602f8fc8120dfe1e05fe426e0ee018b6f6801f925e30f3e6c399b681755a12df4146163cdaf4e5f2c02"
    b"06ae314cda89071959a319ecfab9e42201b5819dc5aef12ecdfed8932e4b5dd0abc4a3e03eb2a41615bf53c8"
    b"9573188fb9e215a876e59bc8f6bc5e3f4a35ceb32f4216444af6ae386dc39ca14e43378baebf48004e26152a"
    b"a34b81bf7fd18e766ec74e3ebfa0bca551778d8140806a48f82ef1b8fb91d4cd47af6056f5ea24a70c5d6258"
    b"9b12023500410348315d32a78237f3f1f18398bc3ef99b632aaca6002b0f98dc8502c17477e74fac605365e3"
    b"816843ce7b4b6cfb4323884fea99361bd54af4ba49f817be75e9c516f1828ceef3e486474b8eb97cf2e65389"
    b"517a964b7058f85636e883ec00d36b2674253ab5f3447f70fd87a97750e2e2965411ee268edd9e264867da4f"
    b"365ed5ab09187040fe771178e00b30272784b31c9d3a13d6a6922159afbfdba6184f80245efcb7e7ffe15e55"
    b"cd78f87a367f6032c694838789835cffffca3a007dbff6f342f233210d16668fc3445660878d8b1323d4752d"
    b"1130f10135faa62387e2c84d64fd341810eff9c05dc14904098c2daa63ae8412ef568e3e8168111f066d9357"
    b"d402378c8e769d4517ac2bd6e77d5cf510cb35920f674d44078918f725c3cef6f683bb1aebaa96aa4cef28ed"
    b"e2eca7735aec2275d0429ad4262437934d269e3aa387bf05cb1dfc0718edc1feafd8479ef3fb88720eda74b2"
    b"04760ab21e9d309bcdfefce13037d3899da37e8e374f87c141c98119d03088fa14b4cc008d6246503f365309"
    b"0297eeeb1941b2884e8739ad1245cc2929ffba37b951271cca7fb444140b8cfbf51b2745b1ba16560528f4b3"
    b"43ef1232fad346c280d297baa16f0ed4d953686b095d0bfd007a3666d908d16fb6e3a1bbe2a64c290a1bbad1"
    b"cc984bbfb91c146cc3f83c012929092e8376fd3d794b6759997dac5ccd7738dc857c04d50a004d0e7b2be07b"
    b"00821d6ae6ce685fdbf5f4a6f49ae1312495074c6c45d7cb2847985cb4cd5890ff1d930ab82306165432c277"
    b"580eb3cc101496fdb5d1544ef535cf725fbe8733b83809b055d2d39650230a8108329bede4db187b4ba8d35b"
    b"b73d25b7659ec7fa1f1a8477d4083055a914899286a9a4a2cb559ce7672b21ef6fa5289ad3e91fc21e2841c3"
    b"ca70f9930b1105d27e605a345a2d24a364d200c23791e37fc02f5818e49ee96b8b1849df59d24eed2de01fb1"
    b"47b5a0ba1aea605b9ce5edde383a825b2588bb28f34c5a52f4701fe20340384ce5034f0b3bc5af8ae9cf94b5"
    b"1e29120aa2f531243ac629a9d677ae721a5d60c9291ff705bf720876916eb1d24497c893551a403f2288ebe0"
    b"509497a204ad250672a8ceb0ded3dddf21882ae6ca10aa9d031dac28500c439533722147e2b1ac751bcda563"
    b"0b9799c3323a5d85dfe902183bce4640e52ae12503d7566a889ae6b64bcebd5e74c61458ce9cd27a640e4fc7"
    b"df67cbacfb5eebf4a0a464655dfd6a889c8f9ab5bfbc820b357cecbde78e721aa37509e4a147ba65a3f42201"
    b"568308174aaeb265105c36a4f8685af7aa16d9553ac7a9867a5cb77aa772dc29ae49985bf0452405ab30905f"
    b"d55f684ca272d90dcad07416aa79ea4873f8dc82f0838a53524e16c05ec267f6b7ebcfbfa229203cf588bfdf"
    b"d66f7fb75e9a807ed5c65ba6eb981c0dd0b178dfecd2cc0e9c21907321d4fe5a565b77b6072a00fc63ab0ee4"
    b"81764ce3a9fde3be5ad4edfea3df5b6c8fd0df899b7617270370073d2888a1e92d7822a04e1a0d263fe7465d"
    b"b62674feda800f64c64a737be33c943f3159c4fb0066acd9c0fe773eac621a01a39ab066b91308948d7c58a3"
    b"080e18ba3071dd16694b121d7cb6cae074adc7733d2c200e8c4a7ac63313dd937203136ebcd6119b0d0c89be"
    b"0440d707acfeb430b52a4a1672b8b547bc5da7392b093ee1533ded6d1a704c9852304402f733afc4c731f04d"
    b"498aa25174da7342524bd3b4859dff8fca1e1e2e65f4cf7f0bb55520d228960bcafd7adbb600224da8d3b5ff"
    b"ea2cfed63d4bbb83b6acfc5e8955c44f4faf9df7e50073f03f0232c874a18b02a771c5694956dc3f14b37f65"
    b"f6dc3eb7e5936bf6b7225619f6e5f738a7a6b9102398b4e38dd5e471062c976fbcc5f9e520feb5e98aa75663"
    b"b7a231ca0389216e456ed70c689ae461ff48ff2f657a0d42ab2330814fe587520b205271fc8821da02fd8e21"
    b"b545ba0aceda643c71c4dafc97aa61054714ab5dae40c28d892143e2b3ed16be6bbcf94e73dd7f661e7022ec"
    b"e8ab8f2868620d6aecc9ee40c68816f3869f7772f30718001ae4e73711e3713aae558097f6ec84aea3c040ff"
    b"383d9e85d9a72b778c1cad16a51f8ab6796d97f06dbee21d8f89fd215bbd194cff9f4aa102ef0ff733e9f8c4"
    b"e5e6df114596d6c94ad81ac237b0ef9ef004ee81238b7bfb3be7c9be1af55766343a0c7022fe93b9bf9a44d2"
    b"a694cef7900dbfce7e5c1f020a8b9ff2ffda0ff12f91ab2ce7c4e993a254d0b4fae4dc0299cfcc032606beb6"
    b"1e2181b15d958422ac91e4bbabf472ad28036ff96baf36ed532641e11ff761fe59e80b9030c0ede52ee5945c"
    b"99d70334fbf17cdb1acafa6c7fae3a4bb6157f52232bccc40b21211f01d0af4a19e380f3901cb773cbb872b1"
    b"77c7b787391b95a861772b39fd494e652cb5c90ef97718eda666d1f320caca80066df09bad00d332bcc3a0b8"
    b"6a800e91b2a5e650372a734d32a2739a0f71414c694fe84405ba7a19b9d091485fecd4012b0da3195b870ac8"
    b"9f5e6f2bec74466489a5185a30e0d2b5e82c1896e467823e24e3d48e7606220bc905ae001543c88e01de3a4e"
    b"83f93d3c7f8b2e78496afe16772e8d54dcecbdd3502313f0f33630dac9406eca9fcdc295adb190199aa606f9"
    b"059d75ad57776cf89f80aeef6ea67c71f562d4c6616e9cd5badbb986e3dd396c2443f65b955e07a23f5d4a3b"
    b"2b0a47101960ef0f957a31b42cc4ea0ec55407a8b02e698cd769f918b13ba5d575166836cc1d7ddfe004562a"
    b"e423e396098d1361fbd9756a6d0d4a9ab5f7c7b8e137b472f6c30a5a390d4929f8e54009f295ed86e9fa88eb"
    b"0526e8a9cf9e699493d222c70a6e88766253e2e0ed07da23d6aaeffc70442717e3e4e1e7f58e5a0fba4f0433"
    b"16720d2f44caf8ef2e777f193b76d8145c90944906bd884cd73c8526786a37388e783785e2353719b5fa306e"
    b"eb2cb325a51023dc1b2e6a19ce943db99ef6b1f8b27ca2702cb05dc35cf21e3ce0f2e84868ee0d6ae0b7968e"
    b"2cbbfcc4b038cbb31549af0b56495a63128c1b0c66cef4ff51f594a3fdf448f2ba682c76d7719221306c56d9"
    b"2112b55bf01808523481ebbc53d6823caab2c7991b684c1bb55a088189a7c45830133afec328d71b3dc3ad67"
    b"1ca9434dc3b7f34e4f11cd841953da5d88041f86b341b402446ff46d4d46c5bf86c6014d85c0065224f26432"
    b"4174a26df8e8f5e6de7517cc2bc37ce406031087e67a816a4ecb10ad4e38aa553450c56faa545b45c4e238d3"
    b"f0a5a8ccdb72d6d980cd24f42d73384f1c9a8150f4a38d15d6e2a2ef442e86e7085a748ca6cf4dd3d381c7b1"
    b"b2bdd9b135f4aff12e404075f726882b152cf994536d82bac4e526321e5bab11a4c2edb03d8cbfb51b5c5921"
    b"8812d56d45dfa86e37555a11b098f18b51d60b637308b8353f6c8a0af691c10e71b3786b8f5d6a022af67f65"
    b"c258084f1554933578094dc3cdb9f57fd3a8e6b9b43438916ab19199df4cf0af4a7cb71bd71d900db22e4b3f"
    b"cd1bdf4f6a5496f27ebba6131442a8079326d05159b9eb9ce27aee73fcca77d36d4a47a1587b7ca1f5cd346b"
    b"e940a8664e7f56fbf75d282dac63ea38edf119a305bda869939a596db0335472508959d729521901988fba91"
    b"5c060f2de9c877e114a0ef78ad09b131a722bc849df0841a8e8e10c6d6ed3442ee20ae2a8f8377f2ee835159"
    b"481d47e7c5b195fd765799dce45f150b658fc9513cef0c860fc7fc44197aff60a3943eb2ad1db29abbf045b7"
    b"8a33e9490b98a636ca1e6e8a23d28cbf50cc3fa4c14ceeca960eb0a8dc812b3534dc0615329d496c93b2b36c"
    b"c5314b68048f968e3b76a30233c8f0fad6683d044a03ab980d640236e8d001c110ff5ba35d7c8ac2d6d5ba06"
    b"9e2067f0d3d3f62958358a79d1167cc4fa4e1f96dd98211c4cc978193f483c215991b32b366018516f5a5a22"
    b"71f2a56eaa14f436b9c7de5adefd7c62a3b73fb2efdba93691ec1aacf53ceb78195d35b2e9a028ca4cf24008"
    b"d15af99d8f3ae9d3626adcb184ca3a785aba0643c465bc70a3022832703d9318ddd9413b7c96108d1bf8054c"
    b"cdef3a6f1c28f8419f19c2f99e1c4515af47a2692e65d9ca1b5d9db100caebab720ebc1093d8c20781f2f4fb"
    b"353ed3d00f3e58a7305f29df27ee247ba58fb3f384cb4322add6ef36b7f9f01a809c41823fa9a8c7ce26b6ea"
    b"5e09687b581235886bd7fc66a64d87e3885a97e8e0e267ede294686fbadbe82c659a678cc78c45b07104d23d"
    b"245aa0ce230738d56c8fd588d195f3492827ceacdcec47e09517bd2dafec84d94a58b0f648225c3c4ab612c6"
    b"4e684806ef09c1327208dd0da0b4d1a1f88a2e2adc846350313f631f83d010fb54b2f4dff24fb09d6161fbd1"
    b"b1e8ba6082eb86d2c4f2334abbfb341a12c80fdd53203ff529185476d352cf280d8242885407cca0d34d7545"
    b"db1823059f53890d44354128e1323061b13a2466f04ca03fc693dd0457bba8df2587dd14b510f5f7d8161643"
    b"542b0a2f47ed57f07b8db3d60b28a763c093074c67c28c27b0cdf72ebd35d5bcad50e6b048c299ff97bd7c55"
    b"c24112a8951da8625edd78cb9c72818df76ac8bb712094e8069d2240a17e714aed78a62ebf7310e54109f6f1"
    b"0f95ed5b455726bfdc28b7409d98de88b2ddfb053a535bd0be466ff3d856a077aad9504f16aa5d5228fcd7c2"
    b"774885ee213f3b3466aba8185b3341e0c2e3d1b3ae69e47d0f01d4bbd706d9578b0b65d6d3de1efef7120a01"
    b"ae3d274253718f6f38336046965793cbea40661f7bbfa0421cd4c0c7bfb7e83e496595804f07b0985bc52625"
    b"f4dd90e654efde43c4454d3a2b176ba604905e75173ba660cb54fa02c6f8cecb5f5f13eb7c354ef27c1668a7"
    b"dbce0c1a7363d88cfba339ffc79c9753dbe94d40f8a5658959d57023530dfc1901ca65dd6488ea04dd82064b"
    b"5bbb0f1357d880f4b89b2d6cb7fd1be777f78c99e3707f111181cdc08848aadb7419ebf823b444e11a595770"
    b"1a7cad964fc743d6f102e46721d6abf6154908759edbba526b0e7f4eae0bb443b74c5d70d4563a001c59a49c"
    b"37d3c1469023bbdc01c6f25133a3d2631da65c173d783fd33cf42523d05d31ebba93530c9525681ab96329df"
    b"cb8fcd5dccaaa53c207c6b3c58a920407989120c3153f325ab69a9f3cdb791403d35ac018ddfdfd6575ff60a"
    b"f023aa232cdfb49f2a32ff07aadc2950afbeee66c3c84c485d0f06f9657f86a42dee8584d1a6511947c8d489"
    b"fc600dd8da02dd56979f287d89af43839e86017fa7e9cf67c02ecdce94c444b1bd21d51f4ee0f427b8255b11"
    b"24354489ca6ee7f40c7937d682c3831836186a57c187c054f3bf924a53f6fbba506693eb46b6ca36e6533dd9"
    b"f99a51e5b29f74c9d0dfe2fd69798d918083e0b79c0efe9aae3a5dfd5aa398b5f99b85fea3ce5bc3a6c29785"
    b"d5d0712e96d7c6d92def63d30bf59e80dba642976da604dc45c2ee3dd988a86efc603698a3f4f171ce81b6cc"
    b"b2b6a4117e5746dde4d1a5d598c52a60673237d8ec84c4ec48e00e908e3e43ae864e6d2cfed57b3a075eb4d2"
    b"7d50a74b2d2196456981fd3e2e542abcac76baa6ff5647e6a69bda22051c2d7def84fc51e998b4015d7a5187"
    b"ce857e5ee5896154b095217770bf5a3a1ec7538ced075c81ea7bc42e78260ccb5e70d0686ce15d168d1ad45c"
    b"eed04b2ee3fdb85a14f38433f3c4c0da5c5f415364a736b4c7d7c098dc558560d59e072f1e256d3c406eebde"
    b"2f0e49307191e509ae7baf0d1697f4fc32a6a25e0493b50e95ece398372aeedc69330a6521329693012e685b"
    b"a9d62808f3bf37f45f5c46b5502fb61ec7899c4a56d327e079df708bc586a2f19829911a1e3c68b8a80337fc"
    b"251e55515bb779655edef171147925bb81372791104cfb9cc53260f22fcb453633780a5a9c434d19c286b54a"
    b"57036ff189e22dedebb77454832b46c01441d0b6f5af4753083dc91bf19a766d822d8f67cb741154c147fc88"
    b"488a47363743de355a60ccb10f30e74eca216fff39517307711e37c16d45f5e43e1c5a17d8312bf4741f0d9b"
    b"e5f134099e1682aa9e0fc39a305e9519a4c5404e28ab094fec28e0ad2363f0283de6d6d9a0014a60d6b53b4d"
    b"89afd83abb8f6cc1710b3d6a6e21521577c09e3aaf7a0f4b7c7167b8e72baa0c1f05eed994d1bf8fa673de13"
    b"30d8b17f5ff36fe878dc4b569e94791d3f06caefd0dc894297954ced85dc68e199f375720b426c4ba3b76c76"
    b"00edde5dd0c8fe9776ac00831fc6f9070b5149e43cb97c4267e06b376778e08e3985cb6eca8ef397931bdd55"
    b"02ef9dcd20c2dbbae7eadf4008300dfc909f5b1d7fdef10a6c3c6328839c28c486bdbc6302bbef2564d3c46d"
    b"83d3b81de2af917f95c8030e9dba3c2f9bd0cebdd88be16d0db8417b60a18166a99d3bcf43934188194b4307"
    b"f2a1f134d843eeefe25bd851251778fdc46856dfd2ebf2051067674748c2590fa333ab1672037974c809f40d"
    b"3feca87e59131420a573c6c064bacf7cd641765b3a3591028d9f1b4b684a1d2d711980eb8d979a04792fed3a"
    b"9b52f160f0183fe566b442b3c024d639ef93e21b4178252f6ac1fb27f9cb7379846070fe8cec1d53a9e0d3a4"
    b"7c597e87860108c78a3549bcc4f3c2f9128c816c744fd4a5db893169a5b6993c99681a8d211cce206e9a2bc8"
    b"894c3e6d05e76583a4fcd3342ad2334b5a21a37c49ec1874450c5632c239232b37b0827b71a212db321e3f62"
    b"0f59e0b50e4e930e4b383113c19b32479ae622b670c5d667325a1569cff22dece9d236444ea0ba10a5e2fa0f"
    b"ec5e3856b9f5724a842e1bef5adf00de78c6be72b982cc60eb36dd90b05f92e7a7dca6c6280cfa08adfa3814"
    b"eb04054d491ce81cbbaef8474b4d0c3c5cec23300b6764277e0f8951a729e7a30b0dfa2df2df102bc0521a16"
    b"63042ba5c4747355c210031dc4caab97e92194d162c1bada0cd8dfdff95cb2a9d928b422351f8dad76857380"
    b"c17a83126823ec5e87ad57243a453c0855945cc0d3906759d1a375493c63ca7d749d6bdf0d963dd0c0b4fd83"
    b"5e92d2e786bb3716ce09236cce5d55b68275e54ee9465a33111111cffabf112b7610e1ee92fefc0936d4d215"
    b"228dcca900ef8d025d5042662e13ffd4c6871d03da78accd08960f152cb7e7639d86c2a26aa8c6c298640fc1"
    b"d721ac2a2f89252a40589cab9bff6dbbc19d2491b85f7c2f50018b1cc70a0eee80bd81480ce28faafb958c54"
    b"ef4aca8e837a11ea3ee2179013e7b488ebfd20a7e44627c877fa183c3ae9f8abb1d1199d42771bd5370fd08c"
    b"5494cec58dac69f29d1750527f518fbca8ca7351c70279dd50155a5a564a3e1c01ef599599bbc3a92c9f2a33"
    b"c041a7be4cea76154b280dea219a194cf4e649e58e40ae1bea8bd42c089be82cc9bdda309c88b5c20ed44ddc"
    b"042d7092c4f88b2d019d5f3716a5f6b95a8c141cb0f79f665bdd9c1d00d92f1beb844f01603e8e62b98bfb0e"
    b"4b4822a82e7c0343affe262f409ed87d603c7c0a8b07654f213b7aeda5f1004efabfbea0d84437788fd91b2b"
    b"c2b63f302c349ace5d605a2dc148f92379cb26f3be8fbf27fc7c5e8a1831486d98eb538d59691d0b21c31783"
    b"2b0a34764199debd5291eec0d45b7fb93ae7c82c6aa688b448c11d72db6bdd672af441f2ce37cebe1866b649"
    b"be55cbbffd335a9a7a18f01f5c3e0beac7dd7089d384e1aa9aa8cfae9caffef13432405230a844b4eda1648b"
    b"ee3c87f2ad34d3ffbc1b6593e835acb19f89ecacad7f6ee9484a41bbad4517ddcb3c2dbc03fa8f10f13061c5"
    b"3da48f1760cb5eb28c1b8ea1bf4e0e1b7b9d8810429c294300a5c38afcf238d07d5a7da6a236edde45b493d8"
    b"0cf6ad1af17ff74a46e377b583a5fb3ea9f4e412d81b79ffa4dc95c96862c098877651846fc0902d5e5d4ea7"
    b"9cc2a42e01721c7575cf4ba9b4f2555ac46d4ac683e55f1efb4dab86d37b9df4a977666f38d67374a2f7ba80"
    b"a7fc92b83725c8f61620560da59ccd6c9125a27195ea3c470521338a768a6eda9e227d58e70dcd8e25c25f80"
    b"e2b6e9efe344a4e7dd080354dedbdf5a8265778cde26d8674ca52678a923a6b21c268eec4ea8e3ac3568a6b6"
    b"1ec6dd55bda63b656b78bafb0efaddb017f9fa8c9f33bec9edb746d7f1c29216e7150073a9af889acfd11dfc"
    b"446816162f9e546194b0683dc19114c5ea32fff5905066bd417e8f226af10a4d43d391e60ca9e9682a5eb439"
    b"4947be9f9eb65927a09462b6055f498b3c90948359e6b47ac25dd5c199299baa8b91bcf5076cbf03f2482b08"
    b"576b2b057cd50e962767456e87e030ef5cc2e3d3333f8e18bf338101a6ceaa7957c12c499f4008444d8e6b7d"
    b"d8d9aa9a559a141238dd6a51ce41c8a692430af4b81d78a04b90290afb173b97eeb6bad1caa72fd43d0d3092"
    b"d6e08724e3843af19abc985351a20b3f055cd7b495bc96b06cfa64a00d28e6149551b04f09a22ffc7cc74fd4"
    b"27067f14113851fdff684a9ca6e1d5871f75287a28f539ce0e5cbdbaec25cd15e14eb602db7611f18514011d"
    b"a392b26b0503a71f0ce1e02acadf19d72a84d6211b21c914ee8bc58dfea9252990bb3c9f9f1b598b6f97aed2"
    b"c48f4c59f12194d8eb011465ff88e7560d1c54931b3710c118aa9509ebdd811df7f853309fe4528892d68fa2"
    b"8b037211952344a5c8ed4c896b1d518db5a5b73e2c522cee981d1769a980e444fdde308f8ddf6fed5a679ccf"
    b"2d4319b480cf0ff2f665404ff5fd09ced9dc3987b01f7549a9ffa0b3519c8de12efa76da15399a4682ba3355"
    b"b00d7867b8bc084bb849805e030e94fe2d4ba9167762e7adb261989e1201e5b147b1fea813e90e49d0bde045"
    b"a7eb1f86d56096eaae5ad00f545933526291f2c2679731fbc93bff0cb1c91d1ae52abc7443e9f8900f5e8170"
    b"defc2559396acf5d1606903fa8ab4a4779f2ed7d9b85440ad35df8428586f02e6edc79505e51d9c2f1ee452b"
    b"6e1df51dd57d4e9f433f65be80af364073837d1d921a4e9d40012ca7bd6150409aa408710d5dd769a982f492"
    b"428ebbc488eb778f5383a580a26b5548be64fede4f27ed23385cfbbbfd568c9fc13dcf15ade2a7383c355892"
    b"2c9f13c37678e51e8d8193ccbdca9c816a15004f64a986d49f5f679e1faf7ff42a2c8a936443e678db2bebec"
    b"7760906cccd0ef0d5ea966aff352aa0d7b7d2bf44a81b3f1140a45224fb2c8e167c490807f6b91b91cd3e251"
    b"727aa7a011a2a6b9b8a9380fd5297772cfc5561ef351ba68061a66663871f2ff13be671e3740d5191dff99af"
    b"196b11382b5e1a7fc9d803668e3303bb58e722b723cd286e02e635abb961a27d63261e598e4a0418e2760696"
    b"ce5aed62a8bf70cb28cfd2d7efbc66893094f4e46f00d93c02a934ba2b5ece6ebb6c7eae63e87ce063ecf8f1"
    b"7143bd5b6edc557dddd4672210dbd1904b47a47bb963e1f73ab5707837c2e80cda96b1567b9cb305a2410b9b"
    b"3783a3ff29048e7b7b2103cf278f7c097a9bba62a5e1eb2c0ca0026b3f8fb29631480ba78a8f7db00f11b0b9"
    b"d5434a8a3d0c3c684afb748b2ace05f2964e1c127e14e18133dfb5f6cbb72dd3eacff09071f046224bc00e25"
    b"14765f9449dd835a390deec7311dc39da72054bcf44b39759a2e6db723a6f90249972dfd08e95380f1fca470"
    b"eacd1d03e5edf214befafccf223ca065f0a0db4eea93ff06a2116fca81f7a4a9436a8d917a02dede"
)
