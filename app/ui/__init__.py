"""The Streamlit workbench (`cyberclaim ui`). Pages only call forensics, adjusters and case_store."""
