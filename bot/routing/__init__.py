"""From an event to a handler: the plain types a handler receives (`context`: messages, actions, contexts, guard and
handler signatures), registration and dispatch (`router`), guards and the roles they check (`guards`, `roles`),
errors a user may see (`errors`) and the card wire protocol (`protocol`)."""
