"""volatility3 through its library API: one context per image, one automagic
pass, then every plugin of the set constructed on that context.

The first plugin runs the automagics (layer stacking, symbol finding); the
stacked kernel layer and symbol table stay in the context, so the plugins
after it reuse them instead of re-scanning the image. Rows come out of the
TreeGrid as dicts keyed by column name.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("cyberclaim.memory")

LINUX_PLUGINS = ["linux.pslist.PsList", "linux.psaux.PsAux", "linux.bash.Bash", "linux.sockstat.Sockstat",
                 "linux.malware.malfind.Malfind", "linux.lsmod.Lsmod"]
WINDOWS_PLUGINS = ["windows.info.Info", "windows.pslist.PsList", "windows.psscan.PsScan", "windows.cmdline.CmdLine",
                   "windows.netscan.NetScan", "windows.svcscan.SvcScan", "windows.malware.malfind.Malfind",
                   "windows.dlllist.DllList", "windows.handles.Handles"]

_imported = False


@dataclass
class PluginResult:
    plugin: str
    rows: list[dict] = field(default_factory=list)
    error: str | None = None
    unsatisfied: list[str] = field(default_factory=list)


def _import_plugins() -> None:
    global _imported
    if not _imported:
        import volatility3.plugins
        from volatility3 import framework

        framework.require_interface_version(2, 0, 0)
        framework.import_files(volatility3.plugins, True)
        _imported = True


def _plugin_class(dotted: str):
    for cls in _all_plugins():
        if f"{cls.__module__.removeprefix('volatility3.plugins.').removeprefix('volatility3.framework.plugins.')}.{cls.__name__}" == dotted:
            return cls
    raise KeyError(dotted)


def _all_plugins():
    from volatility3.framework import interfaces

    seen, todo = [], list(interfaces.plugins.PluginInterface.__subclasses__())
    while todo:  # bounded by the class hierarchy
        c = todo.pop()
        if c not in seen:
            seen.append(c)
            todo.extend(c.__subclasses__())
    return seen


def _value(v: Any) -> Any:
    from volatility3.framework import renderers
    from volatility3.framework.interfaces.renderers import BaseAbsentValue

    if isinstance(v, BaseAbsentValue):
        return None
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, renderers.Disassembly):
        return None
    if isinstance(v, (int, str, float, bool)) or v is None:
        return v
    return str(v)


class VolSession:
    """One image, one volatility context, plugins run one after another on it."""

    def __init__(self, image: Path, progress: Callable[[str, float], None] | None = None):
        _import_plugins()
        from volatility3.framework import automagic, contexts
        from volatility3.framework.configuration import requirements

        self.ctx = contexts.Context()
        self.ctx.config["automagic.LayerStacker.single_location"] = requirements.URIRequirement.location_from_file(str(image))
        self.automagics = automagic.available(self.ctx)
        self.progress = progress or (lambda what, pct: None)
        self._kernel_cfg = None  # config subtree of the first plugin's satisfied kernel requirement

    def run(self, dotted: str) -> PluginResult:
        from volatility3.framework import automagic, exceptions, plugins

        res = PluginResult(dotted)
        try:
            cls = _plugin_class(dotted)
        except KeyError:
            res.error = f"volatility3 has no plugin {dotted}"
            return res
        chosen = automagic.choose_automagic(self.automagics, cls)
        kernel_path = f"plugins.{cls.__name__}.kernel"
        if self._kernel_cfg is not None and any(r.name == "kernel" for r in cls.get_requirements()):
            # Hand this plugin the kernel (layer + symbol table) the first plugin's automagic found,
            # so the symbol finder does not load the ISF again for every plugin.
            self.ctx.config.splice(kernel_path, self._kernel_cfg)
        try:
            plugin = plugins.construct_plugin(self.ctx, chosen, cls, "plugins",
                                              lambda pct, desc=None: self.progress(f"{dotted}: {desc or ''}", pct), None)
            grid = plugin.run()
            names = [c.name for c in grid.columns]

            def visit(node, acc):
                acc.append({n: _value(v) for n, v in zip(names, node.values)})
                return acc

            grid.populate(visit, res.rows)
            if self._kernel_cfg is None and kernel_path in self.ctx.config:
                self._kernel_cfg = self.ctx.config.branch(kernel_path)
        except exceptions.UnsatisfiedException as e:
            res.unsatisfied = sorted(str(k) for k in e.unsatisfied)
            res.error = "requirements not met (symbols or layer): " + ", ".join(res.unsatisfied)
        except Exception as e:  # a plugin crashing on damaged memory must not stop the others
            res.error = f"{type(e).__name__}: {e}"
        return res

    def kernel_layer(self, plugin_name: str) -> str | None:
        return self.ctx.config.get(f"plugins.{plugin_name}.kernel.layer_name")

    def translate(self, layer: str | None, virt: int | None) -> int | None:
        """Virtual to physical in `layer`; volatility prints kernel pointers without the 0xffff prefix."""
        if layer is None or virt is None or layer not in self.ctx.layers:
            return None
        lay = self.ctx.layers[layer]
        for v in (virt, virt | 0xFFFF000000000000 if virt < (1 << 48) and virt >= (1 << 47) else virt):
            try:
                phys, _ = lay.translate(v)
                return phys
            except Exception:
                continue
        return None

    def process_layer(self, pid: int) -> str | None:
        name = f"layer_name_Process{pid}"
        return name if name in self.ctx.layers else None
