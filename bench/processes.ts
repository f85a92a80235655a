// Finding and measuring processes through /proc (Linux): the workerd that Miniflare
// spawns is a child of this process, and its resident memory is the gateway's.
import { readFileSync, readdirSync } from "node:fs";

/** Direct children of `parentPid` whose command name is `name`. */
export function childPidsNamed(parentPid: number, name: string): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${parentPid}/task`)) {
    const children = readFileSync(`/proc/${parentPid}/task/${task}/children`, "utf8").trim();
    for (const pid of children === "" ? [] : children.split(/\s+/).map(Number)) {
      if (commandName(pid) === name) pids.push(pid);
    }
  }
  return pids;
}

function commandName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null; // exited meanwhile
  }
}

/** Resident set size in bytes, or null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** User + system CPU time the process has used so far, in milliseconds. */
export function cpuTimeMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

// USER_HZ is 100 on every mainstream Linux build; getconf would need a subprocess.
const CLOCK_TICKS_PER_SECOND = 100;
