"""colab/s3-standin (NOT MinIO): moto's S3 server with two MinIO behaviours added.

1. Credentials are checked. MinIO accepts only its root user (MINIO_ROOT_USER /
   MINIO_ROOT_PASSWORD) until other users exist; moto in server mode accepts anything
   unless INITIAL_NO_AUTH_ACTION_COUNT is reached (moto/core/responses.py,
   ActionAuthenticatorMixin). The root pair is registered as an access key of an IAM user
   in moto's own backend with an allow-all policy, and the count is set to 0, so moto
   verifies every request's SigV4 signature against that secret (moto/iam/access_control.py).
2. Buckets live on disk. MinIO keeps each bucket as a top-level directory of its data
   directory; this stand-in mirrors creation and deletion into DATA_DIR/<bucket> and
   recreates the buckets found there when it starts, so buckets survive a recreate.
   Objects stay in memory (moto) - only the bucket list persists.
"""
import json
import os
import sys

from moto import settings
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends
from moto.s3 import models as s3_models
import moto.server

PARTITION = "aws"
REGION = "us-east-1"


def _register_root(user, password):
    iam = iam_backends[DEFAULT_ACCOUNT_ID][PARTITION]
    iam.create_user(REGION, "minio-root")
    key = iam.create_access_key("minio-root")
    key.access_key_id = user
    key.secret_access_key = password
    iam.put_user_policy("minio-root", "root", json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0


def _persist_buckets(data_dir):
    backend_cls = s3_models.S3Backend
    create, delete = backend_cls.create_bucket, backend_cls.delete_bucket

    def create_bucket(self, bucket_name, region_name):
        bucket = create(self, bucket_name, region_name)
        os.makedirs(os.path.join(data_dir, bucket_name), exist_ok=True)
        return bucket

    def delete_bucket(self, bucket_name):
        bucket = delete(self, bucket_name)
        if bucket is not None:
            try:
                os.rmdir(os.path.join(data_dir, bucket_name))
            except OSError:
                pass
        return bucket

    backend_cls.create_bucket, backend_cls.delete_bucket = create_bucket, delete_bucket
    backend = s3_models.s3_backends[DEFAULT_ACCOUNT_ID][PARTITION]
    for name in sorted(os.listdir(data_dir)):
        if os.path.isdir(os.path.join(data_dir, name)) and not name.startswith("."):
            create(backend, name, REGION)


def main(argv):
    data_dir, port = argv[0], argv[1]
    user = os.environ.get("MINIO_ROOT_USER", "")
    password = os.environ.get("MINIO_ROOT_PASSWORD", "")
    if len(user) < 3 or len(password) < 8:
        # MinIO's own rule: it refuses to start with a short root user or password.
        print("s3-standin: MINIO_ROOT_USER (3+) and MINIO_ROOT_PASSWORD (8+) are required",
              file=sys.stderr)
        return 1
    os.makedirs(data_dir, exist_ok=True)
    _register_root(user, password)
    _persist_buckets(data_dir)
    moto.server.main(["-H", "0.0.0.0", "-p", port])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
