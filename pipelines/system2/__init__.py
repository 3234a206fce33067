"""System 2 (Table 2): detections in, a pool of regions, rescored and suppressed.

- :mod:`.pool_expansion`: the detector's box NMS and the paper's pool expansion;
- :mod:`.synthetic_detections`: a detector-like set for the shared data;
- :mod:`.region_descriptor`: region and box descriptors for rescoring (the
  rescoring SVM itself is :mod:`hypercolumns.classifiers.rescoring`);
- :mod:`.region_nms`: NMS on region masks;
- :mod:`.semantic`: pasting regions into a semantic segmentation, mean IU.
"""
