"""The demo's contract document: one A4 page with a title and clauses (Chinese text as an image)."""

from __future__ import annotations

from sealpact.contracts.certificate import render_pdf


def demo_contract_pdf() -> bytes:
    lines: list[tuple[str, int]] = [("采购合同 Purchase Agreement (sealpact demo)", 34), ("", 20)]
    for i, clause in enumerate(
        ["甲方向乙方采购演示服务一项。", "价款人民币壹万元整。", "本合同经双方电子签名后生效。"], start=1
    ):
        lines.append((f"第{i}条 {clause}", 24))
    return render_pdf(lines)
