# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small S3 client with AWS Signature Version 4, standard library only (no boto3 on nodes).

The signer follows AWS's SigV4 specification ("Create a signed AWS API request", AWS IAM
user guide) in its S3 form: the path is URI-encoded once and never normalised, the payload
hash is sent and signed as ``x-amz-content-sha256``. It is checked against AWS's published
test suite (tests/unit/plugins/fixtures/sigv4, from awslabs/aws-c-auth).

Every request has a timeout. Secrets (the secret key) never appear in an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import re
import ssl
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# S3's bucket naming rules (general purpose buckets): 3-63 characters, lowercase letters,
# digits, dots and hyphens, beginning and ending with a letter or digit, not an IP address.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class S3Error(Exception):
    """An S3 request that failed; ``code`` is S3's error code (or the HTTP status)."""

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.status = status
        self.code = code


def bucket_name_problem(name):
    """Why ``name`` is not a valid S3 bucket name, or None."""
    if not isinstance(name, str) or not _BUCKET_RE.match(name):
        return ("must be 3-63 characters of lowercase letters, digits, dots and hyphens, "
                "beginning and ending with a letter or digit")
    if ".." in name or _IPV4_RE.match(name):
        return "must not contain '..' nor be formatted as an IP address"
    return None


def uri_encode(value, keep_slash=False):
    """RFC 3986 encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ escaped."""
    return quote(value, safe="/~" if keep_slash else "~")


def canonical_query(query):
    """The canonical query string: each name and value encoded, sorted by name then value."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _sep, value = part.partition("=")
        pairs.append((uri_encode(name), uri_encode(value)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(headers):
    """(canonical header block, signed header list) from (name, value) pairs.

    Names are lowercased and sorted; values trimmed with inner runs of spaces collapsed;
    a repeated header's values are joined with commas in the order given.
    """
    merged = {}
    for name, value in headers:
        key = name.strip().lower()
        val = " ".join(str(value).split())
        merged.setdefault(key, []).append(val)
    names = sorted(merged)
    block = "".join(f"{n}:{','.join(merged[n])}\n" for n in names)
    return block, ";".join(names)


def signing_key(secret_key, date, region, service):
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(method, path, query, headers, payload_hash, access_key, secret_key, region,
         service, amz_date):
    """Sign a request. ``headers`` must already hold Host and X-Amz-Date (and, for S3,
    X-Amz-Content-Sha256). Returns a dict with canonical_request, string_to_sign,
    signature and authorization (the Authorization header value)."""
    block, signed = canonical_headers(headers)
    canonical_request = "\n".join([
        method.upper(), uri_encode(path or "/", keep_slash=True), canonical_query(query),
        block, signed, payload_hash])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret_key, amz_date[:8], region, service),
                         string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        "canonical_request": canonical_request,
        "string_to_sign": string_to_sign,
        "signature": signature,
        "authorization": (f"{ALGORITHM} Credential={access_key}/{scope}, "
                          f"SignedHeaders={signed}, Signature={signature}"),
    }


def _xml_text(root, tag):
    """Text of the first element named ``tag``, whatever its namespace (servers differ)."""
    for elem in root.iter():
        if elem.tag.rpartition("}")[2] == tag:
            return (elem.text or "").strip()
    return None


class S3Client:
    """Path-style S3 requests against one endpoint (MinIO's default addressing)."""

    def __init__(self, endpoint_url, access_key, secret_key, region="us-east-1", timeout=10,
                 validate_certs=True, ca_path=None, clock=time.gmtime):
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise S3Error(f"endpoint_url must be http(s)://host[:port], got {endpoint_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.netloc = parts.netloc
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.clock = clock

    def _connection(self):
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        context = ssl.create_default_context(cafile=self.ca_path)
        if not self.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                           context=context)

    def request(self, method, bucket, query="", body=b""):
        """(status, body bytes) of one signed request; transport problems raise S3Error."""
        path = "/" + bucket if bucket else "/"
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", self.clock())
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = [("Host", self.netloc), ("X-Amz-Date", amz_date),
                   ("X-Amz-Content-Sha256", payload_hash)]
        if body:
            headers.append(("Content-Length", str(len(body))))
            headers.append(("Content-MD5", base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()))
        signed = sign(method, path, query, headers, payload_hash, self.access_key,
                      self.secret_key, self.region, "s3", amz_date)
        send = dict(headers)
        send["Authorization"] = signed["authorization"]
        url = uri_encode(path, keep_slash=True) + ("?" + query if query else "")
        conn = self._connection()
        try:
            conn.request(method, url, body=body or None, headers=send)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data
        except (OSError, http.client.HTTPException) as exc:
            # socket.timeout is an OSError; the message names the endpoint, never a key
            raise S3Error(f"{method} {self.scheme}://{self.netloc}{url} failed within "
                          f"{self.timeout}s: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()

    def _fail(self, what, status, data):
        code = message = None
        if data:
            try:
                root = ET.fromstring(data)
                code, message = _xml_text(root, "Code"), _xml_text(root, "Message")
            except ET.ParseError:
                pass
        raise S3Error(f"{what}: HTTP {status} {code or ''} {message or ''}".rstrip(),
                      status=status, code=code or str(status))

    def bucket_exists(self, bucket):
        """HeadBucket: True (200), False (404); 403 and others are errors."""
        status, data = self.request("HEAD", bucket)
        if status == 200:
            return True
        if status == 404:
            return False
        if status == 403:
            raise S3Error(f"HeadBucket {bucket}: HTTP 403 (the bucket exists and these "
                          "credentials may not use it, or the credentials are wrong)",
                          status=403, code="Forbidden")
        return self._fail(f"HeadBucket {bucket}", status, data)

    def create_bucket(self, bucket):
        body = b""
        if self.region and self.region != "us-east-1":
            body = ('<CreateBucketConfiguration xmlns="%s"><LocationConstraint>%s'
                    '</LocationConstraint></CreateBucketConfiguration>'
                    % (_S3_NS, self.region)).encode("utf-8")
        status, data = self.request("PUT", bucket, body=body)
        if status != 200:
            self._fail(f"CreateBucket {bucket}", status, data)

    def delete_bucket(self, bucket):
        status, data = self.request("DELETE", bucket)
        if status not in (200, 204):
            self._fail(f"DeleteBucket {bucket}", status, data)

    def get_versioning(self, bucket):
        """'Enabled', 'Suspended', or '' (never configured)."""
        status, data = self.request("GET", bucket, query="versioning")
        if status != 200:
            self._fail(f"GetBucketVersioning {bucket}", status, data)
        try:
            return _xml_text(ET.fromstring(data), "Status") or ""
        except ET.ParseError:
            raise S3Error(f"GetBucketVersioning {bucket}: the answer is not XML") from None

    def put_versioning(self, bucket, enabled):
        body = ('<VersioningConfiguration xmlns="%s"><Status>%s</Status>'
                '</VersioningConfiguration>'
                % (_S3_NS, "Enabled" if enabled else "Suspended")).encode("utf-8")
        status, data = self.request("PUT", bucket, query="versioning", body=body)
        if status != 200:
            self._fail(f"PutBucketVersioning {bucket}", status, data)
