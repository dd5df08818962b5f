// The CommonJS side: require() gets the same types (dist/cjs/*.d.ts).
import craft = require("@craft/client");

export async function main(): Promise<void> {
  const client = new craft.Client("ws://127.0.0.1:7777/ws", { name: "cjs" });
  const room = await client.joinOrCreate("chat", undefined, { ops: craft.ops<{ 1: craft.SendReceive<string, { text: string }> }>() });
  room.send(1, "hi");
  room.onMessage(1, (line) => line.text.length);
  client.on("error", (e) => (e.code === "UNAUTHORIZED" ? 1 : 0));
}
