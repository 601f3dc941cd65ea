"""skops archives: ``schema.json`` lists every object as ``{"__module__", "__class__", "__loader__",
"content"}`` (the types ``skops.io.get_untrusted_types`` checks), with the skops protocol and version at its
top; arrays live in ``.npy`` members, never read."""

from __future__ import annotations

import json

from envcheck.modelfiles import jsondocs, zips
from envcheck.modelfiles.bounded import Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample, WrittenBy


class SkopsReader(Reader):
    format = ModelFormat.SKOPS

    def claims(self, sample: Sample) -> bool:
        return "schema.json" in (sample.members or ())

    def read(self, source: Source, draft: Draft) -> None:
        archive = source.archive
        assert archive is not None
        draft.modules.append("skops")
        data = zips.read_member(archive, "schema.json", source.budget, source.budget.limits.max_json)
        schema = jsondocs.parse(data, "schema.json")
        if not isinstance(schema, dict):
            draft.note("schema.json is not a JSON object")
            return
        for key, field in (("protocol", "skops.protocol"), ("_skops_version", "skops.version")):
            value = jsondocs.text(schema.get(key))
            if value:
                draft.versions[field] = value
        for node in jsondocs.dicts(schema):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                draft.reference(module, name)
            content = node.get("content")
            if node.get("__loader__") in ("FunctionNode", "MethodNode") and isinstance(content, dict):
                fmod, fname = content.get("module_path"), content.get("function")
                if isinstance(fmod, str) and isinstance(fname, str):
                    draft.reference(fmod, fname)
            if isinstance(content, dict) and node.get("__loader__") == "DictNode":
                self._sklearn_version(content.get("_sklearn_version"), draft)

    @staticmethod
    def _sklearn_version(node: object, draft: Draft) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("content"), str):
            return
        try:
            value = json.loads(node["content"])
        except (ValueError, RecursionError):
            return
        version = jsondocs.text(value)
        if version and isinstance(value, str):
            if draft.written_by is None:
                draft.written_by = WrittenBy("scikit-learn", version)
            elif draft.written_by.version != version:
                draft.note(f"objects of several scikit-learn versions: {draft.written_by.version}, {version}")
