// The structured flow editor: Enter in a person search looks people up instead of saving the
// flow (the form's default button is "Save").
document.addEventListener("keydown", (event) => {
  const input = event.target;
  if (event.key !== "Enter" || !(input instanceof HTMLInputElement) || input.type !== "search") {
    return;
  }
  const find = input.parentElement && input.parentElement.querySelector("[data-find]");
  if (find instanceof HTMLButtonElement) {
    event.preventDefault();
    find.click();
  }
});
