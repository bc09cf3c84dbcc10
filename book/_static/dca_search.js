/* Search result snippets are plain text cut from the page's HTML, where math is still TeX source
   ("\(C_v &gt; C_i\)"). Before Sphinx cuts the snippet, turn TeX into readable text: delimiters go,
   Greek letters become their symbols, other commands lose their backslash, braces go. */
(() => {
  const GREEK = {alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε",
    theta: "θ", lambda: "λ", mu: "μ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ",
    chi: "χ", omega: "ω", Delta: "Δ", Sigma: "Σ", sum: "Σ", le: "≤", leq: "≤", ge: "≥", geq: "≥",
    times: "×", cdot: "·", approx: "≈", neq: "≠", to: "→", rightarrow: "→", in: "∈", infty: "∞",
    mid: "|", lvert: "|", rvert: "|", left: "", right: ""};
  const plain = (tex) => tex
    .replace(/\\(mathrm|text|mathbf|operatorname|mathit|textrm)\s*\{([^{}]*)\}/g, "$2")
    .replace(/\\([A-Za-z]+)/g, (m, name) => (name in GREEK ? GREEK[name] : name))
    .replace(/\\[,;:! ]/g, " ")
    .replace(/[{}]/g, "")
    .replace(/\s+/g, " ")
    .trim();
  const untex = (text) => text
    .replace(/\\\(([\s\S]*?)\\\)/g, (m, tex) => plain(tex))
    .replace(/\\\[([\s\S]*?)\\\]/g, (m, tex) => plain(tex))
    .replace(/\$\$([\s\S]*?)\$\$/g, (m, tex) => plain(tex));
  const patch = () => {
    if (typeof Search === "undefined" || Search._dcaUntex) return;
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (html, anchor) => untex(htmlToText(html, anchor));
    Search._dcaUntex = true;
  };
  patch();
  document.addEventListener("DOMContentLoaded", patch);
  window.dcaUntex = untex;  // for the browser test
})();
