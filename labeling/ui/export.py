"""Export page (reviewers and admins): choose the gold policy and splits, preview the
first records and the dataset card, download everything as a zip."""

import streamlit as st

from labeling import export_card, export_options, export_preview, export_zip, gold, project
from labeling.ui import common

person = common.require_role(st.session_state.get("person"))
st.header("Export")

# Exports read through their own connection (the download runs on another thread).
path = project.db_path()
policies = list(gold.POLICIES)

left, right = st.columns(2)
policy = left.selectbox(
    "Gold policy", policies, index=policies.index(gold.DEFAULT_POLICY), key="export_policy",
    help="adjudicated: reviewer decisions only. unanimous: + sentences every annotator "
         "labeled alike. majority: + a strict majority (ties are left out).")
min_annotators = left.number_input(
    "Min annotators", min_value=1, max_value=100, value=2, step=1, key="export_min_annotators",
    help="Labels a sentence needs unless a reviewer decided; 1 exports single labels.")
split_spec = right.text_input(
    "Splits (train,dev,test)", value="0.8,0.1,0.1", key="export_splits",
    help="Three ratios summing to 1, whole articles per split; or 'none'.")
seed = right.number_input("Seed", value=0, step=1, key="export_seed",
                          help="Seed of the article-to-split hash and of the bootstrap.")
formats = st.multiselect("Formats", export_options.EXPORT_FORMATS,
                         default=list(export_options.EXPORT_FORMATS), key="export_formats",
                         help="parquet / jsonl / csv: the dataset (one file per split); "
                              "raw: every annotation (annotations.parquet with parquet, else "
                              ".jsonl and .csv).")
include_context = st.checkbox("Include context (previous and next sentence)",
                              key="export_context")
csv_exact = st.checkbox("CSV exact (do not neutralise cells that start like a formula)",
                        key="export_csv_exact")
embed = st.checkbox("Embed annotations (every raw label inside each dataset row)",
                    key="export_embed_annotations",
                    help="The raw annotations are their own file with 'raw'; embedding "
                         "them makes every dataset file several times larger.")

try:
    options = export_options.ExportOptions(
        formats=tuple(formats), gold_policy=policy, ratios=split_spec, seed=int(seed),
        min_annotators=int(min_annotators), include_context=include_context,
        csv_exact=csv_exact, embed_annotations=embed).validated()
except export_options.OptionError as exc:
    st.error(str(exc))
    st.stop()

st.code(options.command("export"), language=None, wrap_lines=True)

if st.button("Preview", key="export_preview_button", type="primary"):
    with st.status("Building the preview…", expanded=True) as status:
        bar = st.progress(0.0)
        result = export_preview.preview(
            path, options, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
        status.update(label="Preview ready", state="complete", expanded=False)
    st.session_state["export_preview"] = (options, result)

stored = st.session_state.get("export_preview")
if stored is not None and stored[0] == options:
    result = stored[1]
    summary = result.summary
    cols = st.columns(len(summary["rows"]) + 1)
    for col, (name, n) in zip(cols, summary["rows"].items()):
        col.metric(name, n)
    cols[-1].metric("left out", sum(summary["excluded"].values()))
    st.caption("Files: " + ", ".join(summary["files"]))
    # The first rows of each split; st.dataframe shows cell text literally (article text
    # is never markdown).
    names = list(result.by_split)
    titles = [f"{n} ({summary['rows'][n]})" for n in names]
    first = next((t for t, n in zip(titles, names) if result.by_split[n]), None)
    for tab, name in zip(st.tabs(titles, default=first), names):  # opens on a split with rows
        if result.by_split[name]:
            tab.dataframe(export_preview.preview_frame(result.by_split[name]), hide_index=True,
                          width="stretch", key=f"export_rows_{name}")
        else:
            tab.caption(f"{name} is empty: it gets no file (see the card).")
    meta, body = export_card.split_front_matter(result.card)
    with st.expander("Dataset card (README.md)", expanded=True):
        st.markdown(body)  # our own markdown; names in it are escaped
    with st.expander("Metadata block (read by Hugging Face datasets and the Hub)"):
        st.code(meta, language="yaml")
elif stored is not None:
    st.caption("The options changed: press Preview again to see the new export.")

# The zip is built when the button is clicked, maybe long after this run: the callable
# checks the role again then.
st.download_button(
    "Download zip",
    data=common.privileged_download(path, person, lambda: export_zip.export_zip(path, options)),
    file_name="parley-export.zip", mime="application/zip", key="download_zip",
    on_click="ignore", icon="📦")
