# -*- coding: utf-8 -*-
# Copyright: colab.cluster developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja test: is a string a valid S3 bucket name (the rule colab.cluster.s3_bucket applies)."""

from __future__ import annotations

from ansible_collections.colab.cluster.plugins.module_utils._s3 import bucket_name_problem


def s3_bucket_name(value):
    return bucket_name_problem(value) is None


class TestModule:
    def tests(self):
        return {"s3_bucket_name": s3_bucket_name}
