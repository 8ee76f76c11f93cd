// Writes a run's results: bench/results/<date>.json (every figure with its per-run values) and
// bench/results/<date>.md (the table a reader checks: each figure next to its limit, each target
// with PASS/MISS).
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Figure, formatFigure, type TargetCheck } from "./measure.ts";

export interface SectionReport {
  name: string;
  /** Rows of the section's table: label → figure (median with min–max). */
  figures: Record<string, Figure>;
  /** Human labels of the figures, in table order (figures not listed are shown under their key). */
  labels?: Record<string, string>;
  targets: TargetCheck[];
  notes: string[];
}

/** What a section's benchmark returns; the runner adds its name (and labels). */
export type SectionResult = Pick<SectionReport, "figures" | "targets" | "notes">;

export interface RunReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  options: Record<string, unknown>;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGb: number;
    node: string;
    platform: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd?: number[];
  };
  sections: SectionReport[];
}

export function machineInfo(): RunReport["machine"] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    // Other work on the machine skews absolute numbers (ratios less so); the report says how busy it was.
    loadAverageAtStart: os.loadavg().map((value) => Number(value.toFixed(2))),
  };
}

export function renderMarkdown(report: RunReport): string {
  const lines: string[] = [];
  lines.push(`# Vigil benchmark — ${report.startedAt.slice(0, 10)}`, "");
  lines.push(
    `\`${report.command}\` · ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGb} GB, Node ${report.machine.node}, ${report.machine.platform}`,
  );
  lines.push(
    `Started ${report.startedAt}, finished ${report.finishedAt}. Figures: median over runs (min–max).`,
    `Load average (1/5/15 min) at start ${report.machine.loadAverageAtStart.join(" / ")}, at end ${report.machine.loadAverageAtEnd?.join(" / ") ?? "n/a"} (other work on the machine lowers absolute numbers).`,
    "",
  );
  const targets = report.sections.flatMap((section) => section.targets);
  if (targets.length) {
    lines.push("## Targets", "", "| section | target | measured | result |", "| --- | --- | --- | --- |");
    for (const target of targets)
      lines.push(
        `| ${target.section} | ${target.target} | ${target.measured} | ${target.pass ? "PASS" : "**MISS**"} |`,
      );
    lines.push("");
  }
  for (const section of report.sections) {
    lines.push(`## ${section.name}`, "", "| figure | value |", "| --- | --- |");
    for (const [key, value] of Object.entries(section.figures))
      lines.push(`| ${section.labels?.[key] ?? key} | ${formatFigure(value)} |`);
    lines.push("");
    for (const note of section.notes) lines.push(`- ${note}`);
    if (section.notes.length) lines.push("");
  }
  return `${lines.join("\n")}\n`;
}

export function writeReport(
  report: RunReport,
  directory: string,
  stamp: string,
): { json: string; markdown: string } {
  mkdirSync(directory, { recursive: true });
  const json = path.join(directory, `${stamp}.json`);
  const markdown = path.join(directory, `${stamp}.md`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(markdown, renderMarkdown(report));
  return { json, markdown };
}
