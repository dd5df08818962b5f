// Wrong payload types for a typed room. Each line marked `//!` must produce exactly that
// diagnostic; no other line may.
import { Client, codecs, ops, type SendReceive } from "@craft/client";

interface ChatLine { name: string; text: string }
type ChatOps = { 1: SendReceive<string, ChatLine> };
type GameOps = { 2: { seq: number }; 3: string };

export async function check(client: Client): Promise<void> {
  const room = await client.joinOrCreate("chat", undefined, { ops: ops<ChatOps>() });
  room.send(1, 42); //! TS2345 Argument of type 'number' is not assignable to parameter of type 'string'.
  room.send(2, "hi"); //! TS2345 Argument of type '2' is not assignable to parameter of type '1'.
  room.onMessage(1, (line: string) => line); //! TS2345 Argument of type '(line: string) => string' is not assignable to parameter of type '(data: ChatLine, sender: string, op: number) => void'.
  room.onMessage(1, (line) => line.txt); //! TS2551 Property 'txt' does not exist on type 'ChatLine'. Did you mean 'text'?
  const game = await client.create("game", undefined, { ops: ops<GameOps>({ 3: codecs.text() }) });
  game.send(2, { seq: "1" }); //! TS2322 Type 'string' is not assignable to type 'number'.
  ops<GameOps>(); //! TS2554 Expected 1 arguments, but got 0.
  ops<GameOps>({ 3: codecs.bytes() }); //! TS2322 Type 'Codec<Uint8Array<ArrayBufferLike>, Uint8Array<ArrayBufferLike>>' is not assignable to type 'OpCodec<string, string>
  void game;
}
