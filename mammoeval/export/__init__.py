"""Export of generated mammograms (PNG / synthetic-marked DICOM) and QA-based curation of image folders."""
