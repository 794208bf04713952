"""`pimsim presets list` and `pimsim presets show NAME|FILE [--json]`."""

from __future__ import annotations

import yaml

from pimsim.cli.output import format_table, print_json
from pimsim.hardware import load_hardware, preset_names
from pimsim.hardware.system import is_system, load_system, system_names


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="hardware presets shipped with pimsim")
    psub = p.add_subparsers(dest="presets_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="list presets")
    ls.set_defaults(func=_list)
    show = psub.add_parser("show", help="show one preset (or a user YAML) after validation")
    show.add_argument("name", help="preset name or path to a hardware YAML")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_show)


def _list(args) -> int:
    rows = []
    for name in preset_names():
        hw = load_hardware(name)
        d = hw.dram
        rows.append((name, d.standard, d.channels, d.banks, hw.capacity_bytes / 2**30,
                     hw.peak_mac_bandwidth_bytes_per_s / 1e12, hw.description))
    print(format_table(["name", "standard", "channels", "banks/ch", "capacity_GiB", "peak_MAC_TB/s",
                        "description"], rows))
    systems = []
    for name in system_names():
        system, _ = load_system(name)
        devices = ", ".join(f"{d}={e.pim or e.device}" + (f" x{e.count}" if e.count > 1 else "") +
                            (f" ({e.parallel})" if e.parallel else "") for d, e in system.devices.items())
        links = ", ".join(f"{n}({'-'.join(link.between)}, {link.bytes_per_s / 1e9:g} GB/s)"
                          for n, link in system.links.items())
        systems.append((name, devices, links, system.description))
    if systems:
        print()
        print(format_table(["system", "devices", "links", "description"], systems))
    return 0


def describe(hw) -> dict:
    """The validated preset plus derived figures (capacity, peak MAC bandwidth)."""
    data = hw.model_dump(mode="json")
    data["derived"] = {
        "capacity_bytes": hw.capacity_bytes,
        "row_bytes": hw.dram.row_bytes,
        "banks_per_channel": hw.dram.banks,
        "peak_mac_bandwidth_bytes_per_s": hw.peak_mac_bandwidth_bytes_per_s,
    }
    return data


def _show(args) -> int:
    data = load_system(args.name)[0].model_dump(mode="json") if is_system(args.name) else \
        describe(load_hardware(args.name))
    if args.json:
        print_json(data)
    else:
        print(yaml.safe_dump(data, sort_keys=False), end="")
    return 0
