// The Import tab's upload form: say which format the chosen file is taken for, before uploading.
// From the file's kind (its extension) and the formats that read it, as the server does first;
// when several formats read that kind, the server tells them apart by the file's contents on
// upload (formats.format_candidates), so the page names the candidates and never guesses.

const formats = JSON.parse(document.getElementById("import-formats").textContent);
const fileInput = document.getElementById("import-file");
const formatSelect = document.getElementById("import-format");
const detected = document.getElementById("import-detected");

function say(text, unknown = false) {
  detected.textContent = text;
  detected.classList.toggle("imports__detected--unknown", unknown);
}

function describe() {
  const file = fileInput.files && fileInput.files[0];
  if (!file) {
    say("Choose a file: its format is detected from its name and contents.");
    return;
  }
  const name = file.name;
  const kind = name.includes(".") ? name.split(".").pop().toLowerCase() : "";
  const readers = formats.filter((fmt) => fmt.kinds.includes(kind));
  const chosen = formats.find((fmt) => fmt.name === formatSelect.value);
  if (chosen) {
    if (kind !== "zip" && !chosen.kinds.includes(kind)) {
      say(`${chosen.label} reads .${chosen.kinds.join(", .")} files; “${name}” may not be one.`, true);
    } else {
      say(`“${name}” is imported as ${chosen.label} (chosen above).`);
    }
    return;
  }
  if (kind === "zip") {
    const archives = readers.map((fmt) => fmt.label).join(", ");
    say(`A ZIP: ${archives}, or a ZIP of label files (each becomes an import of its own). Its contents tell which when it is uploaded.`);
  } else if (readers.length === 1) {
    say(`Detected format: ${readers[0].label}.`);
  } else if (readers.length > 1) {
    say(`A .${kind} file: ${readers.map((fmt) => fmt.label).join(", ")}. Its contents tell which when it is uploaded; or choose the format above.`);
  } else {
    const kinds = [...new Set(formats.flatMap((fmt) => fmt.kinds))].sort();
    say(`No format reads .${kind || "(no extension)"} files; import one of: .${kinds.join(", .")}, or a ZIP of them.`, true);
  }
}

fileInput.addEventListener("change", describe);
formatSelect.addEventListener("change", describe);
describe();
