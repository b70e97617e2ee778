// Copy buttons: <button data-copy="#selector"> copies that element's value or text.

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = "value" in source && source.value !== undefined ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without clipboard permission: select the text so that Ctrl+C copies it.
      if (source.select) source.select();
      else window.getSelection().selectAllChildren(source);
    }
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => {
      button.textContent = label;
    }, 1500);
  });
}
