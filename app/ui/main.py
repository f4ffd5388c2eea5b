"""Entry point of the workbench: `streamlit run app/ui/main.py` (what `cyberclaim ui` starts)."""
from pathlib import Path

import streamlit as st

from app.ui.i18n import t

st.set_page_config(page_title="cyberclaim", layout="wide")
HERE = Path(__file__).parent / "views"  # not pages/: Streamlit would list that directory itself and bypass this navigation
PAGES = [("cases", "Cases"), ("evidence", "Evidence"), ("ingest", "Ingest"), ("timeline", "Timeline"),
         ("graph", "Graph"), ("findings", "Findings"), ("storyline", "Storyline"), ("coverage", "Coverage"),
         ("loss", "Loss"), ("reports", "Reports"), ("admin", "Admin")]
nav = st.navigation([st.Page(str(HERE / f"{slug}.py"), title=t(title), url_path=slug, default=slug == "cases")
                     for slug, title in PAGES])
nav.run()
