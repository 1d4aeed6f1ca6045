"""DiffSync itself on the benchmark data, for scripts/bench: the models of
a schema document as DiffSyncModel classes, both data documents loaded
(children nested under their parents, as moonsync loads them), then
dest.diff_from(source). Prints "timings: load S s, diff S s, peak RSS M MiB".

usage: PYTHONPATH=DIFFSYNC_SOURCE python3 bench/diffsync_bench.py SCHEMA SOURCE DEST
"""
import json
import resource
import sys
import time
from typing import Any, List

from diffsync import DiffSync, DiffSyncModel
from diffsync.logging import enable_console_logging


def model_class(name, spec):
    fields = {f: (Any, None) for f in spec.get("attributes", []) + spec.get("extra_fields", [])}
    for f in spec["identifiers"]:
        fields[f] = (Any, ...)
    children = spec.get("children", {})
    for field in children.values():
        fields[field] = (List, [])
    namespace = {
        "_modelname": name,
        "_identifiers": tuple(spec["identifiers"]),
        "_shortname": tuple(spec.get("shortname", [])),
        "_attributes": tuple(spec.get("attributes", [])),
        "_children": dict(children),
        "__annotations__": {k: v[0] for k, v in fields.items()},
    }
    namespace.update({k: v[1] for k, v in fields.items() if v[1] is not ...})
    return type(name, (DiffSyncModel,), namespace)


def main():
    enable_console_logging(verbosity=0)  # warnings and errors only
    schema_path, source_path, dest_path = sys.argv[1:4]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    classes = {name: model_class(name, spec) for name, spec in schema["models"].items()}
    adapter = type("Bench", (DiffSync,), dict(classes, top_level=schema["top_level"]))

    def load(path, name):
        a = adapter(name=name)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)

        def add(modelname, rec, parent):
            spec = schema["models"][modelname]
            children = spec.get("children", {})
            obj = classes[modelname](**{k: v for k, v in rec.items() if k not in children.values()})
            a.add(obj)
            if parent is not None:
                parent.add_child(obj)
            for child, field in children.items():
                for sub in rec.get(field, []):
                    add(child, sub, obj)

        for modelname, records in doc.items():
            for rec in records:
                add(modelname, rec, None)
        del doc
        return a

    t0 = time.monotonic()
    src = load(source_path, "source")
    dst = load(dest_path, "dest")
    t1 = time.monotonic()
    dst.diff_from(src)
    t2 = time.monotonic()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"timings: load {t1 - t0:.3f} s, diff {t2 - t1:.3f} s, peak RSS {rss:.1f} MiB")


if __name__ == "__main__":
    main()
