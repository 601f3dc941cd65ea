"""Keras v3 ``.keras`` archives: ``metadata.json`` names the Keras version, ``config.json`` the classes (each
object is serialized as ``{"module": ..., "class_name": ..., "config": ...}``); the weights are never read."""

from __future__ import annotations

from envcheck.modelfiles import jsondocs, zips
from envcheck.modelfiles.bounded import Source
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample, WrittenBy


class KerasReader(Reader):
    format = ModelFormat.KERAS

    def claims(self, sample: Sample) -> bool:
        names = set(sample.members or ())
        return "metadata.json" in names and "config.json" in names

    def read(self, source: Source, draft: Draft) -> None:
        archive = source.archive
        assert archive is not None
        draft.modules.append("keras")
        lim = source.budget.limits.max_json
        meta = jsondocs.parse(zips.read_member(archive, "metadata.json", source.budget, lim), "metadata.json")
        if isinstance(meta, dict):
            version = jsondocs.text(meta.get("keras_version"))
            if version:
                draft.written_by = WrittenBy("keras", version)
        config = jsondocs.parse(zips.read_member(archive, "config.json", source.budget, lim), "config.json")
        for node in jsondocs.dicts(config):
            module, name = node.get("module"), node.get("class_name")
            if not isinstance(module, str) or not isinstance(name, str):
                continue
            if name == "function" and isinstance(node.get("config"), str):
                name = node["config"]
            draft.reference(module, name)
