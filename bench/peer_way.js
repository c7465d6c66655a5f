// The peers' way of running code (mcp-run-python, mini-agent, langchain-sandbox):
// a fresh Deno process that loads Pyodide, loads the packages the code imports,
// runs the code and prints its result. Used by snapshot_bench.py as the baseline.
//   deno run --allow-read=ASSETS bench/peer_way.js ASSETS CODE_FILE
import { loadPyodide } from "npm:pyodide@0.27.7";

const [assets, codeFile] = Deno.args;
const code = Deno.readTextFileSync(codeFile);
const pyodide = await loadPyodide({
  indexURL: `${assets}/node_modules/pyodide/`,
  packageCacheDir: `${assets}/packages/`, // the verified wheels as Pyodide ships them
  stdout: () => {},
  stderr: (line) => console.error(line),
});
await pyodide.loadPackagesFromImports(code, { messageCallback() {} });
pyodide.runPython("import os; os.environ['MPLBACKEND'] = 'agg'");
console.log(String(pyodide.runPython(code)));
