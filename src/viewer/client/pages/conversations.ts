/** /debug: conversations, newest activity first, 50 at a time ("Load more" follows next_cursor). */
import { conversationHref } from "../../links";
import { debugApi } from "../api";
import { h, shellElement } from "../dom";
import { formatTime } from "../format";
import { run, setStatus } from "../page";
import { runtimeTag } from "../tags";

export async function conversationsPage(): Promise<void> {
  const rows = shellElement("conversation-rows", HTMLTableSectionElement);
  const more = shellElement("more", HTMLButtonElement);
  const empty = shellElement("empty", HTMLParagraphElement);
  rows.replaceChildren();
  let cursor: string | null = null;

  const load = async () => {
    setStatus("Loading conversations…");
    more.disabled = true;
    const page = await debugApi.conversations(cursor).finally(() => {
      more.disabled = false;
    });
    for (const conversation of page.items) {
      rows.append(
        h("tr", { dataset: { convId: conversation.conv_id } }, [
          h(
            "td",
            { dataset: { label: "Conversation" } },
            h("a", { href: conversationHref(conversation.conv_id), class: "mono" }, conversation.conv_id),
          ),
          h("td", { dataset: { label: "Session" }, class: "mono" }, conversation.session_id),
          h("td", { dataset: { label: "Current runtime" } }, runtimeTag(null, conversation.resolved_runtime_key)),
          h("td", { dataset: { label: "Last activity" } }, formatTime(conversation.last_activity_ms)),
          h("td", { dataset: { label: "Turns" }, class: "num" }, String(conversation.turn_count)),
        ]),
      );
    }
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    empty.hidden = rows.children.length > 0;
    setStatus("");
  };
  more.onclick = () => void run(load);
  await load();
}
