#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_bucket
short_description: Ensure an S3 bucket exists (and its versioning) on an S3-compatible server such as MinIO
version_added: 0.1.0
description:
  - Reads the bucket with C(HeadBucket) (and C(GetBucketVersioning) when O(versioning) is set),
    then sends C(CreateBucket), C(PutBucketVersioning) or C(DeleteBucket) only when the state
    read differs from the one asked for.
  - Requests are path-style (C(http://host:9000/bucket), MinIO's default) and signed with AWS
    Signature Version 4 by the collection's own signer (standard library only, no boto3 on
    the target). Every request is bounded by O(timeout).
  - The keys are never logged nor returned.
author:
  - colab.cluster developers (@colab)
requirements:
  - Python 3.9+ on the target, which must reach O(endpoint_url).
attributes:
  check_mode:
    support: full
    description: The bucket is read, the change predicted, nothing is written.
  diff_mode:
    support: full
    description: Before and after of C(exists) and C(versioning).
  idempotent:
    support: full
    description: A second run with the same input sends only read requests.
options:
  name:
    description:
      - The bucket name (S3 rules, 3-63 lowercase letters, digits, dots and hyphens).
    type: str
    required: true
  state:
    description:
      - V(present) creates the bucket when missing.
      - V(absent) deletes it when it exists; S3 refuses to delete a bucket that is not empty,
        and the module reports that error.
    type: str
    choices: [present, absent]
    default: present
  versioning:
    description:
      - V(true) enables versioning, V(false) suspends it (S3 cannot turn it off once enabled).
      - Unset leaves versioning as it is and does not read it.
    type: bool
  endpoint_url:
    description:
      - The S3 API, for example V(http://127.0.0.1:9000).
    type: str
    required: true
  access_key:
    description:
      - The access key id (MinIO's C(MINIO_ROOT_USER) or a service account's).
    type: str
    required: true
  secret_key:
    description:
      - The secret key.
    type: str
    required: true
  region:
    description:
      - The signing region (MinIO's default is V(us-east-1)).
    type: str
    default: us-east-1
  timeout:
    description:
      - Seconds each request may take (connect and read).
    type: int
    default: 10
  validate_certs:
    description:
      - Verify the server's TLS certificate with an C(https) O(endpoint_url).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM bundle to verify the server's certificate with.
    type: path
"""

EXAMPLES = r"""
- name: Ensure the backups bucket, versioned
  colab.cluster.s3_bucket:
    name: backups
    versioning: true
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ minio_secrets.MINIO_ROOT_USER }}"
    secret_key: "{{ minio_secrets.MINIO_ROOT_PASSWORD }}"
  no_log: true
"""

RETURN = r"""
name:
  description: The bucket name.
  returned: always
  type: str
  sample: backups
exists:
  description: Whether the bucket exists after the task (predicted in check mode).
  returned: always
  type: bool
versioning:
  description: The versioning status after the task (V(Enabled), V(Suspended), or empty when never set); null when O(versioning) is unset.
  returned: always
  type: str
  sample: Enabled
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.colab.cluster.plugins.module_utils._s3 import (
    S3Client,
    S3Error,
    bucket_name_problem,
)


class Bucket:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.name = module.params["name"]

    def run(self):
        p = self.module.params
        exists = self.client.bucket_exists(self.name)
        want_versioning = p["versioning"]
        versioning = None
        if exists and want_versioning is not None:
            versioning = self.client.get_versioning(self.name)
        before = {"exists": exists, "versioning": versioning}
        changed = False

        if p["state"] == "absent":
            after = {"exists": False, "versioning": None}
            if exists:
                changed = True
                if not self.module.check_mode:
                    self.client.delete_bucket(self.name)
        else:
            after = {"exists": True, "versioning": versioning}
            if not exists:
                changed = True
                if not self.module.check_mode:
                    self.client.create_bucket(self.name)
                after["versioning"] = "" if want_versioning is not None else None
            if want_versioning is not None:
                target = "Enabled" if want_versioning else "Suspended"
                current = after["versioning"] or ""
                # a never-versioned bucket is already "not versioned": suspending is a no-op
                if current != target and not (target == "Suspended" and current == ""):
                    changed = True
                    if not self.module.check_mode:
                        self.client.put_versioning(self.name, want_versioning)
                    after["versioning"] = target

        result = {"changed": changed, "name": self.name, "exists": after["exists"],
                  "versioning": after["versioning"]}
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            versioning=dict(type="bool"),
            endpoint_url=dict(type="str", required=True),
            access_key=dict(type="str", required=True, no_log=True),
            secret_key=dict(type="str", required=True, no_log=True),
            region=dict(type="str", default="us-east-1"),
            timeout=dict(type="int", default=10),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = bucket_name_problem(p["name"])
    if problem:
        module.fail_json(msg=f"name {p['name']!r} {problem}")
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds")
    try:
        client = S3Client(p["endpoint_url"], p["access_key"], p["secret_key"],
                          region=p["region"], timeout=p["timeout"],
                          validate_certs=p["validate_certs"], ca_path=p["ca_path"])
        result = Bucket(module, client).run()
    except S3Error as exc:
        module.fail_json(msg=str(exc), name=p["name"], status=exc.status, code=exc.code)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
