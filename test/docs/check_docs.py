#!/usr/bin/env python3
"""The documentation against what it documents.

  check_docs.py SOURCE_DIR reference      docs/reference.md is what hack/gen-crd-reference.py
                                          writes from deploy/crd/ (it is not stale)
  check_docs.py SOURCE_DIR descriptions   every property of every CRD has a description, so
                                          `kubectl explain` answers for each field
"""
import difflib
import pathlib
import subprocess
import sys
import unittest

import yaml

ROOT = pathlib.Path(sys.argv[1]).resolve()
GROUP = sys.argv[2]
GENERATOR = ROOT / "hack/gen-crd-reference.py"
REFERENCE = ROOT / "docs/reference.md"


def crd_files():
    kustomization = yaml.safe_load((ROOT / "deploy/crd/kustomization.yaml").read_text())
    return [ROOT / "deploy/crd" / name for name in kustomization["resources"]]


def undescribed(schema, path):
    """Field paths under `schema` whose description is missing or blank."""
    out = []
    for name, sub in schema.get("properties", {}).items():
        field = name if not path else path + "." + name
        if not str(sub.get("description", "")).strip():
            out.append(field)
        out += undescribed(sub, field)
        items = sub.get("items")
        if isinstance(items, dict):
            out += undescribed(items, field + "[]")
    return out


class ReferenceIsFresh(unittest.TestCase):
    def test_the_reference_is_what_the_generator_writes_from_the_crds(self):
        r = subprocess.run([sys.executable, str(GENERATOR), "--stdout"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        committed = REFERENCE.read_text() if REFERENCE.exists() else ""
        if r.stdout != committed:
            diff = "".join(difflib.unified_diff(committed.splitlines(True),
                                                r.stdout.splitlines(True),
                                                "docs/reference.md (committed)",
                                                "hack/gen-crd-reference.py --stdout", n=1))
            self.fail("docs/reference.md is stale: run hack/gen-crd-reference.py and commit "
                      "docs/reference.md\n" + diff[:6000])



class EveryFieldIsDescribed(unittest.TestCase):
    def test_every_crd_field_has_a_description(self):
        self.assertEqual(len(crd_files()), 3)
        missing = []
        for path in crd_files():
            crd = yaml.safe_load(path.read_text())
            for version in crd["spec"]["versions"]:
                for field in undescribed(version["schema"]["openAPIV3Schema"], ""):
                    missing.append("%s %s: %s" % (crd["spec"]["names"]["kind"], version["name"],
                                                  field))
        self.assertEqual(missing, [], "fields without a description (kubectl explain shows "
                         "nothing for them):\n  " + "\n  ".join(missing))



GROUPS = {"reference": ReferenceIsFresh, "descriptions": EveryFieldIsDescribed}

if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(GROUPS[GROUP]))
    sys.exit(0 if result.wasSuccessful() else 1)
