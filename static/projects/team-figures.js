// The project page's team figures (templates/projects/_team_figures.html): the card is fetched
// from its own page (labeling.views.project_team_figures), with the range the project page was
// asked for, and put in place of the placeholder. The card is plain HTML and SVG drawn by the
// server; nothing here draws.

const RANGE = ["figures_from", "figures_to"];

async function teamFiguresLoad(placeholder) {
  const source = new URL(placeholder.dataset.src, window.location.href);
  const asked = new URLSearchParams(window.location.search);
  for (const name of RANGE) {
    if (asked.has(name)) source.searchParams.set(name, asked.get(name));
  }
  const status = placeholder.querySelector("[data-status]");
  try {
    const response = await fetch(source, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const card = page.getElementById("team-figures");
    if (!card) throw new Error("no figures in the answer");
    placeholder.replaceWith(document.importNode(card, true));
    if (window.location.hash === "#team-figures") document.getElementById("team-figures").scrollIntoView();
  } catch (error) {
    placeholder.removeAttribute("aria-busy");
    if (status) {
      status.textContent = "The figures could not be loaded here. ";
      const link = document.createElement("a");
      link.href = source.toString();
      link.textContent = "Open them on their own page";
      status.append(link);
    }
  }
}

const placeholder = document.querySelector("#team-figures[data-src]");
if (placeholder) teamFiguresLoad(placeholder);
