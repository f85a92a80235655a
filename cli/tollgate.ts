#!/usr/bin/env node
// tollgate: the operator CLI for a Tollgate gateway's admin API (docs/cli.md).
// Every failure ends here as one line on stderr and an exit code — never a stack trace,
// unless TOLLGATE_DEBUG=1 asks for one.
import { parseInvocation } from "./args.ts";
import { runCommand, type Output } from "./commands.ts";
import { CliError, EXIT } from "./errors.ts";

const output: Output = {
  stdout: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    await runCommand(parseInvocation(argv, env), output);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) {
      output.stderr(`tollgate: ${error.message}`);
      return error.exitCode;
    }
    if (env.TOLLGATE_DEBUG === "1" && error instanceof Error) output.stderr(error.stack ?? error.message);
    else output.stderr(`tollgate: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.api;
  }
}

// exitCode, not exit(): stdout may still be draining into a pipe.
process.exitCode = await main(process.argv.slice(2), process.env);
