/**
 * The ONLINE list: who is in the room on screen (or, in a direct conversation, in the room the
 * user came from). Everyone but the user is a button that opens a direct conversation with
 * them; each person's `<li>` is kept by connection id and updated in place, so presence updates
 * do not move the keyboard focus.
 */

import { byId, element, placeholderItem, reconcile, setText } from "./dom.js";

export function createPresenceView(store, { onPick }) {
  const list = byId("online-list");
  const people = new Map(); // id → li

  function personItem(member) {
    let li = people.get(member.id);
    const mine = store.isMine(member.id);
    if (!li || li.dataset.me !== String(mine)) {
      li = element("li", mine ? "member member-me" : "member");
      li.dataset.id = String(member.id);
      li.dataset.me = String(mine);
      if (mine) li.append(element("span", "member-name"), element("span", "member-you", " (you)"));
      else {
        const button = element("button", "member-button member-name");
        button.type = "button";
        button.dataset.id = String(member.id);
        li.append(button);
      }
      people.set(member.id, li);
    }
    const name = li.querySelector(".member-name");
    setText(name, member.name);
    if (!mine) name.title = `Send a direct message to ${member.name}`;
    const talking = store.currentKey === `@${member.id}`;
    if (talking) li.dataset.dm = "true";
    else delete li.dataset.dm;
    return li;
  }

  function render() {
    const room = store.presenceRoom();
    const members = room && Array.isArray(room.members) ? room.members : null;
    list.dataset.stale = store.connected ? "false" : "true";
    if (!members) {
      reconcile(list, [placeholderItem("—")]);
      return;
    }
    const sorted = members.slice().sort((a, b) => a.name.localeCompare(b.name));
    const items = sorted.map(personItem);
    const present = new Set(members.map((m) => m.id));
    for (const id of people.keys()) if (!present.has(id)) people.delete(id);
    if (!items.length) items.push(placeholderItem("nobody"));
    const hidden = (room.memberCount ?? members.length) - members.length;
    if (hidden > 0) items.push(element("li", "placeholder member-more", `and ${hidden} more`));
    reconcile(list, items);
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".member-button");
    if (button) onPick(Number(button.dataset.id), button.textContent);
  });

  store.subscribe((event) => {
    if (event.type === "members" || event.type === "switched" || event.type === "me") render();
  });

  return { render };
}
